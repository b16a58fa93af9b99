// Package nest tells how deep a value nests: from its type, cheaply,
// when the type bounds it, else by scanning its encoding. A sender checks
// a message against the receiver's MaxDepth with it, so that a message the
// receiver would reject as a protocol error, closing its stream, fails
// alone on the sending side instead.
package nest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// TooDeep reports whether the encoded value b, whose first level is the
// message's level-th (the message's own array being the first), nests
// deeper than maxDepth, or is no single msgpack value (see BadValue).
func TooDeep(b []byte, level, maxDepth int) bool { return BadValue(b, level, maxDepth) != nil }

// BadValue reports why the encoded value b, whose first level is the
// message's level-th, may not be sent: an error wrapping
// msgpack.ErrTooDeep when it nests deeper than maxDepth, or another
// error when it is not one whole msgpack value, which a codec.Raw or a
// type with its own encoder can hold (the peer would take it for a broken
// stream and close it). Short values are scanned too: a few bytes of a
// Raw can be malformed.
func BadValue(b []byte, level, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = msgpack.MaxDepth
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

// MayNest reports whether a value of v's type may nest deeper than depth
// levels, which only scanning it (TooDeep) can tell: its type has no
// bound (TypeDepth is -1), or one past depth. A nil v does not.
func MayNest(v any, depth int) bool {
	if v == nil {
		return false
	}
	d := TypeDepth(reflect.TypeOf(v))
	return d < 0 || d > depth
}

// depthEntry caches one type's TypeDepth.
type depthEntry struct {
	t reflect.Type
	d int
}

var (
	lastDepth atomic.Pointer[depthEntry] // the last type asked: most calls repeat it
	depths    sync.Map                   // reflect.Type → *depthEntry
)

// TypeDepth returns how many levels of arrays and maps a value of type t
// encodes to at most, or -1 when that has no bound (or is not known).
func TypeDepth(t reflect.Type) int {
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

// depthOf computes TypeDepth, visiting holding the types being looked
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
