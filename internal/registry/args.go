package registry

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
)

// argShape is what DecodeArgs needs to know of a method's args type.
type argShape struct {
	fields []string // a struct's fields in positional order; nil when args is not such a struct
	isStr  bool     // args is a struct that decodes field by field
}

func shapeOf(t reflect.Type) argShape {
	if t == nil {
		return argShape{}
	}
	f := msgpack.FieldNames(t)
	return argShape{fields: f, isStr: f != nil}
}

// DecodeArgs decodes a request's params into a fresh args value. params is
// the request's positional array:
//
//   - [] leaves args zero;
//   - [x] decodes x into args, except that when args is a struct and x is
//     not a map, an array or nil, x is its first field;
//   - [a, b, …] decodes the whole array into args: a struct's fields in
//     declaration order, or a slice's elements.
//
// A struct takes fewer params than it has fields (the rest stay zero) but
// not more; a map for a struct must name at least one of its fields, and
// with strictFields every key must name one. Values convert only without
// loss (see package codec). A refusal is a CodeInvalidArgument error whose
// message names the method and the argument.
func (m *Method) DecodeArgs(dec *msgpack.Decoder, params []byte, strictFields bool) (any, *ferry.Error) {
	args := m.NewArgs()
	body := params
	n, hdr, isArray := msgpack.ArrayLen(params)
	switch {
	case !isArray: // not the spec's array: decode it as the args
	case n == 0:
		return args, nil
	case n == 1 && !(m.shape.isStr && isScalar(params[hdr])):
		body = params[hdr:]
	}
	if m.shape.isStr {
		if k, _, ok := msgpack.ArrayLen(body); ok && k > len(m.shape.fields) {
			return nil, m.tooMany(k)
		}
	}
	if strictFields {
		dec.DisallowUnknownFields(true)
		defer dec.DisallowUnknownFields(false)
	}
	if err := dec.DecodeArgs(body, args); err != nil {
		return nil, m.argError(err)
	}
	return args, nil
}

// isScalar reports whether a value starting with c is neither an array, a
// map nor nil.
func isScalar(c byte) bool {
	return !msgpack.IsArrayHeader(c) && c&0xf0 != 0x80 && c != 0xde && c != 0xdf && c != 0xc0
}

func (m *Method) tooMany(got int) *ferry.Error {
	if len(m.shape.fields) == 0 {
		return ferry.Errorf(ferry.CodeInvalidArgument, "%s: takes no arguments, got %d", m.Name, got)
	}
	return ferry.Errorf(ferry.CodeInvalidArgument, "%s: takes at most %d arguments (%s), got %d",
		m.Name, len(m.shape.fields), strings.Join(m.shape.fields, ", "), got)
}

// argError turns a decoding error into the message a caller sees:
// "Arith.Add: argument 1 (A): want an integer, got 3.5" when the args
// came as an array, "Arith.Add: field A: …" when they came as a map.
func (m *Method) argError(err error) *ferry.Error {
	var ve *msgpack.ValueError
	if !errors.As(err, &ve) {
		msg := msgpack.Reason(err)
		return ferry.Errorf(ferry.CodeInvalidArgument, "%s: cannot decode the arguments: %s", m.Name, msg)
	}
	where := ""
	switch {
	case ve.Pos > 0:
		where = fmt.Sprintf("argument %d (%s): ", ve.Pos, ve.Path)
	case ve.Path == "" && !m.shape.isStr:
		where = "argument 1: "
	case ve.Path == "":
	case ve.Path[0] == '[':
		where = "element " + ve.Path + ": "
	default:
		where = "field " + ve.Path + ": "
	}
	return ferry.Errorf(ferry.CodeInvalidArgument, "%s: %s%s", m.Name, where, ve.Msg)
}
