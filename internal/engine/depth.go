package engine

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
)

// A unary message nested deeper than the receiver's MaxDepth is a
// protocol error that closes the stream every unary call shares, failing
// every call on it with its outcome unknown. So, as for its size, the
// engine does not send one past its own MaxDepth: a request fails at the
// caller, not executed, and a reply is replaced by an error. Scanning
// every message for its depth would cost every call, so only values of a
// type whose nesting has no bound below the limit are scanned (interfaces,
// codec.Raw and other types with their own encoding, recursive types).

// tooDeep reports whether the encoded value b, whose first level is the
// message's level-th (the message's own array being the first), nests
// deeper than maxDepth, or is no single msgpack value (see badValue).
func tooDeep(b []byte, level, maxDepth int) bool { return badValue(b, level, maxDepth) != nil }

// badValue reports why the encoded value b, whose first level is the
// message's level-th, may not be sent: an error wrapping
// msgpack.ErrTooDeep when it nests deeper than maxDepth, or another
// error when it is not one whole msgpack value, which a codec.Raw or a
// type with its own encoder can hold (the peer would take it for a broken
// stream and close the one every unary call shares). Short values are
// scanned too: a few bytes of a Raw can be malformed.
func badValue(b []byte, level, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = wire.DefaultMaxDepth
	}
	n, err := msgpack.NewScanner(len(b), maxDepth-level+1).Scan(b)
	switch {
	case err != nil:
		return err
	case n == 0:
		return errors.New("an incomplete value")
	case n != len(b):
		return fmt.Errorf("%d bytes after the value", len(b)-n)
	}
	return nil
}

// mayNest reports whether a value of v's type may nest deeper than depth
// levels, which only scanning it can tell. Params are judged by their
// elements, which take the place of the one argument.
func mayNest(v any, depth int) bool {
	if p, ok := v.(Params); ok {
		for _, e := range p {
			if mayNest(e, depth) {
				return true
			}
		}
		return false
	}
	if v == nil {
		return false
	}
	d := typeDepth(reflect.TypeOf(v))
	return d < 0 || d > depth
}

// depthEntry caches one type's typeDepth.
type depthEntry struct {
	t reflect.Type
	d int
}

var (
	lastDepth atomic.Pointer[depthEntry] // the last type asked: most calls repeat it
	depths    sync.Map                   // reflect.Type → *depthEntry
)

// typeDepth returns how many levels of arrays and maps a value of type t
// encodes to at most, or -1 when that has no bound (or is not known).
func typeDepth(t reflect.Type) int {
	if e := lastDepth.Load(); e != nil && e.t == t {
		return e.d
	}
	v, ok := depths.Load(t)
	if !ok {
		v, _ = depths.LoadOrStore(t, &depthEntry{t: t, d: depthOf(t, map[reflect.Type]bool{})})
	}
	e := v.(*depthEntry)
	lastDepth.Store(e)
	return e.d
}

// encodingMethods are the methods through which a type encodes itself,
// in any shape.
var encodingMethods = []string{"EncodeMsgpack", "MarshalMsgpack", "MarshalBinary", "MarshalText"}

// encodesItself reports whether t, or *t, has one of encodingMethods.
func encodesItself(t reflect.Type) bool {
	pt := t
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface {
		pt = reflect.PointerTo(t)
	}
	for _, name := range encodingMethods {
		if _, ok := pt.MethodByName(name); ok {
			return true
		}
	}
	return false
}

// depthOf computes typeDepth, visiting holding the types being looked
// into (a recursive type has no bound). It errs on the side of -1.
func depthOf(t reflect.Type, visiting map[reflect.Type]bool) int {
	if encodesItself(t) {
		return -1
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map, reflect.Struct:
		// A type met again inside itself is recursive: a struct, or a
		// named slice, array, map or pointer of itself (type T []T).
		if visiting[t] {
			return -1
		}
		visiting[t] = true
		defer delete(visiting, t)
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return 0
	case reflect.Pointer:
		return depthOf(t.Elem(), visiting)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return 0 // bin
		}
		return nested(depthOf(t.Elem(), visiting))
	case reflect.Map:
		return nested(max2(depthOf(t.Key(), visiting), depthOf(t.Elem(), visiting)))
	case reflect.Struct:
		d := 0
		for i := range t.NumField() {
			d = max2(d, depthOf(t.Field(i).Type, visiting)) // unexported fields too: the bound only grows
		}
		return nested(d)
	}
	return -1 // interfaces; chan, func and complex do not encode
}

// nested is the depth of a container of values d deep.
func nested(d int) int {
	if d < 0 {
		return -1
	}
	return d + 1
}

// max2 is max for depths, where -1 (no bound) wins.
func max2(a, b int) int {
	if a < 0 || b < 0 {
		return -1
	}
	return max(a, b)
}

// checkDepth refuses, not executed, a request whose params nest deeper
// than the message limit allows (see tooDeep): its arguments encoded in
// eb, or linked as body (a bin when bin is set).
func (w *writer) checkDepth(method string, args any, body []byte, bin bool, eb *encBuf) error {
	max := w.c.opts.Limits.MaxDepth
	var err error
	switch {
	case body != nil && bin:
		return nil
	case body != nil: // the one element of the params array
		err = badValue(body, 3, max)
	case !mayNest(args, max-2):
		return nil
	default: // the params array
		err = badValue(eb.b, 2, max)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, msgpack.ErrTooDeep):
		return ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeResourceExhausted, msgpack.ErrTooDeep,
			fmt.Sprintf("%s: the request nests deeper than the %d levels a message may have", method, max)))
	}
	return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInternal,
		"%s: the arguments are not msgpack values (%v): a codec.Raw or a custom encoder wrote malformed bytes", method, err))
}

// replyBytes is the encoded reply: linked as body, or in eb.
func replyBytes(body []byte, eb *encBuf) []byte {
	if body != nil {
		return body
	}
	return eb.b
}
