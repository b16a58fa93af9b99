package msgpack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"

	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// ErrDecode is wrapped by every decoding failure.
var ErrDecode = errors.New("ferry: cannot decode msgpack")

// rawType is the public codec.Raw (see SetRawType).
var rawType reflect.Type

// SetRawType names the type (codec.Raw) whose values take a value's bytes
// verbatim: the Decoder hands msgpack no extension spans to guard for it,
// since it parses no payload. codec calls it once, at init.
func SetRawType(t reflect.Type) { rawType = t }

// Marshal encodes v the way Ferry puts arguments and results on the wire
// (integers in their smallest form, structs as maps keyed by field name or
// `msgpack` tag).
func Marshal(v any) (b []byte, err error) {
	if b, ok := AppendFast(nil, v); ok {
		return b, nil
	}
	if err := CheckNesting(v); err != nil {
		return nil, err
	}
	// The library panics on some values it does not support (a uintptr,
	// alone or inside a struct, slice or map: it has no encoder for that
	// kind) where it returns an error for others (a chan, a func):
	// an error here too, as the engine's encoder gives (internal/encode).
	defer func() {
		if p := recover(); p != nil {
			b, err = nil, fmt.Errorf("panic while encoding %T: %v", v, p)
		}
	}()
	var buf bytes.Buffer
	if err := NewEncoder(&buf).Encode(v); err != nil {
		return nil, Own(err)
	}
	return buf.Bytes(), nil
}

// Unmarshal validates b (at most one value, nested at most MaxDepth, no
// declared length beyond the bytes present) and decodes it into v, which
// must be a non-nil pointer.
func Unmarshal(b []byte, v any) error {
	n, err := Validate(b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrDecode, len(b)-n)
	}
	return NewDecoder().Decode(b, v)
}

// Validate checks that b starts with one whole, bounded msgpack value and
// returns its length.
func Validate(b []byte) (int, error) {
	sc := NewScanner(len(b), MaxDepth)
	n, err := sc.Scan(b)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: truncated value", ErrDecode)
	}
	return n, nil
}

// NewEncoder returns a msgpack encoder configured as Ferry encodes.
func NewEncoder(w io.Writer) *vmsgpack.Encoder {
	enc := vmsgpack.NewEncoder(w)
	enc.UseCompactInts(true)
	return enc
}

// Decoder decodes validated values, reusing its state between calls. It is
// not safe for concurrent use.
type Decoder struct {
	r    sliceReader
	dec  *vmsgpack.Decoder // nil until the fast path declines a value (slow)
	fast fastDecoder
}

// NewDecoder returns a Decoder. Values decoded into `any` get int64 or
// uint64 for integers, float64 for floats, and map[string]any or, when a
// key is not a string, map[any]any for maps.
func NewDecoder() *Decoder { return &Decoder{} }

// slow returns the msgpack library's decoder, made on first use: the
// fast path decodes most values without it, and every connection's
// engine holds a Decoder for its life.
func (d *Decoder) slow() *vmsgpack.Decoder {
	if d.dec == nil {
		d.dec = vmsgpack.NewDecoder(&d.r)
		d.dec.UseLooseInterfaceDecoding(true)
		d.dec.SetMapDecoder(decodeAnyMap)
	}
	return d.dec
}

// Decode decodes b into v. b must have passed validation (Validate, or a
// wire.Reader); Decode recovers from panics inside the msgpack library and
// reports them as errors.
func (d *Decoder) Decode(b []byte, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			d.keepSmall(len(b))
			err = fmt.Errorf("%w: %v", ErrDecode, p)
		}
	}()
	if ok, err := decodeFast(&d.fast, b, v); ok {
		if err != nil {
			return fmt.Errorf("%w: %w", ErrDecode, err)
		}
		return nil
	}
	d.r.b, d.r.off, d.r.ext = b, 0, d.r.ext[:0]
	defer d.keepSmall(len(b)) // a value refused below as well as one decoded
	if t := reflect.TypeOf(v); t == nil || t.Kind() != reflect.Pointer || t.Elem() != rawType {
		if d.r.ext, err = extSpans(d.r.ext, b); err != nil {
			return fmt.Errorf("%w: %w", ErrDecode, err)
		}
	}
	if b, err = d.fast.checkSlow(b, v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, err)
	}
	if len(d.fast.edits) > 0 { // an edited copy: the spans moved
		d.r.b = b
		if d.r.ext, err = extSpans(d.r.ext[:0], b); err != nil {
			return fmt.Errorf("%w: %w", ErrDecode, err)
		}
	}
	loosen(v)
	if err = d.slow().Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrDecode, Own(err))
	}
	return nil
}

// Reason returns the text of a decoding failure without the
// "ferry: cannot decode msgpack: " that starts it, for an error message
// that says so in its own words and carries one "ferry:" prefix.
func Reason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrDecode.Error()+": ")
}

// Own returns err, an error of the msgpack library, without the
// library's "msgpack: " prefix at the start of its text, which Ferry's
// errors do not carry; errors.Is and errors.As still find err. nil stays
// nil.
func Own(err error) error {
	if err == nil || !strings.HasPrefix(err.Error(), foreignPrefix) {
		return err
	}
	return foreign{err}
}

const foreignPrefix = "msgpack: "

// foreign is Own's error.
type foreign struct{ err error }

func (f foreign) Error() string { return strings.TrimPrefix(f.err.Error(), foreignPrefix) }
func (f foreign) Unwrap() error { return f.err }

// maxKeptSpans bounds the extension spans, and the edits, a Decoder keeps
// between calls.
const maxKeptSpans = 64

// maxKeptInput is the largest value after which a Decoder keeps the
// library's decoder: that one keeps the buffer it read the value's
// largest str or bin into, as large as that payload.
const maxKeptInput = 64 << 10

// keepSmall drops what the slow path would otherwise keep until the next
// value: every connection's engine and every streaming call holds a
// Decoder for its life, so a 4 MiB str or bin kept 4 MiB per stream, a
// thousand streams to a session, charged to no budget (and the value's
// bytes, a reader's buffer that has gone back to a shared pool). n is the
// length of the value just decoded.
func (d *Decoder) keepSmall(n int) {
	d.r.b = nil
	if cap(d.r.ext) > maxKeptSpans {
		d.r.ext = nil
	}
	if cap(d.fast.edits) > maxKeptSpans {
		d.fast.edits = nil // one an element, for a large array
	}
	if n > maxKeptInput {
		d.dec = nil // made again by the next value the fast path declines
	}
}

func decodeAnyMap(d *vmsgpack.Decoder) (any, error) {
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return nil, err
	}
	keys := make([]any, n)
	vals := make([]any, n)
	allStrings := true
	for i := 0; i < n; i++ {
		if keys[i], err = d.DecodeInterfaceLoose(); err != nil {
			return nil, err
		}
		if vals[i], err = d.DecodeInterfaceLoose(); err != nil {
			return nil, err
		}
		_, isStr := keys[i].(string)
		allStrings = allStrings && isStr
	}
	if allStrings {
		m := make(map[string]any, n)
		for i, k := range keys {
			m[k.(string)] = vals[i]
		}
		return m, nil
	}
	m := make(map[any]any, n)
	for i, k := range keys {
		if k != nil && !isHashable(k) {
			return nil, fmt.Errorf("map key of type %T", k)
		}
		m[k] = vals[i]
	}
	return m, nil
}

func isHashable(k any) bool {
	switch k.(type) {
	case []any, []byte, map[string]any, map[any]any:
		return false
	}
	return true
}

// sliceReader is a minimal io.Reader and io.ByteScanner over a slice. It
// hands out no byte inside an extension payload through ReadByte (see
// ext.go).
type sliceReader struct {
	b   []byte
	off int
	ext []Span // extension payloads, in order
}

func (r *sliceReader) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

func (r *sliceReader) ReadByte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	if len(r.ext) > 0 {
		if err := inPayload(r.ext, r.b, r.off); err != nil {
			return 0, err
		}
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *sliceReader) UnreadByte() error {
	if r.off == 0 {
		return errors.New("ferry: nothing to unread")
	}
	r.off--
	return nil
}
