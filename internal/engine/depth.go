package engine

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/nest"
)

// A unary message nested deeper than the receiver's MaxDepth is a
// protocol error that closes the stream every unary call shares, failing
// every call on it with its outcome unknown. So, as for its size, the
// engine does not send one past its own MaxDepth, nor, in a session, past
// the peer's, which the hello tells (wire.Limits.SendDepth): a request
// fails at the caller, not executed, and a reply is replaced by an
// error. Scanning every message for its depth would cost every call, so
// only values of a type whose nesting has no bound below the limit are
// scanned (interfaces, codec.Raw and other types with their own encoding,
// recursive types): internal/nest.

// tooDeep is nest.TooDeep: too deep, or no single msgpack value.
func tooDeep(b []byte, level, maxDepth int) bool { return nest.TooDeep(b, level, maxDepth) }

// badValue is nest.BadValue: why b may not be sent (too deep, wrapping
// msgpack.ErrTooDeep, or not one whole msgpack value), or nil.
func badValue(b []byte, level, maxDepth int) error { return nest.BadValue(b, level, maxDepth) }

// typeDepth is nest.TypeDepth.
func typeDepth(t reflect.Type) int { return nest.TypeDepth(t) }

// mayNest reports whether a value of v's type may nest deeper than depth
// levels, which only scanning it can tell (nest.MayNest). Params are
// judged by their elements, which take the place of the one argument.
func mayNest(v any, depth int) bool {
	if p, ok := v.(Params); ok {
		for _, e := range p {
			if mayNest(e, depth) {
				return true
			}
		}
		return false
	}
	return nest.MayNest(v, depth)
}

// checkDepth refuses, not executed, a request whose params nest deeper
// than the smaller depth limit allows (wire.Limits.SendDepth), or that a
// codec.Raw or a custom encoder made no whole msgpack value (see
// badValue): its arguments encoded in eb, or linked as body (a bin when
// bin is set).
func (w *writer) checkDepth(method string, args any, body []byte, bin bool, eb *encBuf) error {
	max, peers := w.c.opts.Limits.SendDepth()
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
			fmt.Sprintf("%s: the request nests deeper than %s", method, depthName(max, peers))))
	}
	return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInternal,
		"%s: the arguments are not msgpack values (%v): a codec.Raw or a custom encoder wrote malformed bytes", method, err))
}

// depthName names a nesting limit in an error: this side's, or the peer's
// when peers is set (wire.Limits.SendDepth).
func depthName(max int, peers bool) string {
	if peers {
		return fmt.Sprintf("the %d levels the peer's messages may have", max)
	}
	return fmt.Sprintf("the %d levels a message may have", max)
}

// replyBytes is the encoded reply: linked as body, or in eb.
func replyBytes(body []byte, eb *encBuf) []byte {
	if body != nil {
		return body
	}
	return eb.b
}
