package codec

import (
	"reflect"

	"github.com/ferryrpc/ferry/internal/msgpack"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// MaxDepth is the deepest nesting of arrays and maps Unmarshal accepts.
const MaxDepth = msgpack.MaxDepth

// ErrDecode is wrapped by every decoding failure.
var ErrDecode = msgpack.ErrDecode

// Raw is an encoded msgpack value, passed through without decoding. A nil
// Raw encodes as msgpack nil, and msgpack nil decodes into the empty Raw.
type Raw []byte

func init() { msgpack.SetRawType(reflect.TypeFor[Raw]()) }

// EncodeMsgpack writes the value unchanged.
func (r Raw) EncodeMsgpack(enc *vmsgpack.Encoder) error {
	if len(r) == 0 {
		return enc.EncodeNil()
	}
	_, err := enc.Writer().Write(r)
	return err
}

// DecodeMsgpack copies the next value's bytes. A msgpack nil never
// reaches it: nil decodes into a Raw as the empty Raw (nil leaves the zero
// value, as for any type), which encodes as nil again but is no value to
// Unmarshal (check len(r) == 0 first).
func (r *Raw) DecodeMsgpack(dec *vmsgpack.Decoder) error {
	b, err := dec.DecodeRaw()
	*r = Raw(b)
	return err
}

// Marshal encodes v the way Ferry puts arguments and results on the wire
// (integers in their smallest form, structs as maps keyed by field name or
// `msgpack` tag). Struct tags mean what they mean to msgpack v5: as_array
// on a `_msgpack` field, omitempty, alias, inline and noinline, embedded
// structs inlined; plain structs with these options are encoded without
// msgpack's reflection, to the same bytes. A value that contains itself
// (through a pointer, map, slice or interface) is an error, as is one more
// than 10,000 pointers and containers deep; Ferry's calls and streams
// refuse such arguments, replies and messages the same way. So is a value
// of a kind MessagePack has no form for (a chan, a func, a complex number,
// an unsafe.Pointer, a uintptr), wherever it sits in v.
func Marshal(v any) ([]byte, error) { return msgpack.Marshal(v) }

// Unmarshal validates b (at most one value, nested at most MaxDepth, no
// declared length beyond the bytes present) and decodes it into v, which
// must be a non-nil pointer. A value that fits its target only with a loss
// (3.5 into an int, 300 into an int8, a negative into a uint, 2^53+1 into
// a float64) is refused with an error that names where it sits; a float
// into a float32 is rounded to the nearest float32 (refused past its
// range).
func Unmarshal(b []byte, v any) error { return msgpack.Unmarshal(b, v) }

// Validate checks that b starts with one whole, bounded msgpack value and
// returns its length.
func Validate(b []byte) (int, error) { return msgpack.Validate(b) }
