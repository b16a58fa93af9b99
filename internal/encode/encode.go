// Package encode appends Go values as msgpack to a caller's buffer: the
// one encoding step the call engine and streaming calls share. It takes
// internal/msgpack's compiled fast path when the type allows it and msgpack's
// reflection otherwise, and turns a panic in a user's custom encoder into
// an error.
package encode

import (
	"fmt"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// bigPayload is the byte-payload size past which the buffer is grown in
// one step from wire's pool before encoding.
const bigPayload = 64 << 10

// Encoder appends values; it is not safe for concurrent use (its owners
// call it under their writer's lock).
type Encoder struct {
	buf msgpack.Buffer
	enc *vmsgpack.Encoder // made on first use: most types take the fast path
}

// New returns an Encoder.
func New() *Encoder {
	return &Encoder{}
}

// Append appends v's encoding to b and returns the extended slice. On an
// error the returned slice holds b's bytes, possibly in a new array, and
// what was appended after them is to be cut off. A byte payload over 64 KiB
// first moves b into a pooled buffer large enough for it; b's old
// array, if pooled-sized, goes back to the pool.
func (e *Encoder) Append(b []byte, v any) (out []byte, err error) {
	if n := sizeHint(v); n > bigPayload && cap(b)-len(b) < n+16 {
		nb := append(wire.GetBuffer(len(b)+n+16), b...)
		if cap(b) > bigPayload {
			wire.PutBuffer(b)
		}
		b = nb
	}
	e.buf.B = b
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while encoding %T: %v", v, p)
		}
		out, e.buf.B = e.buf.B, nil
	}()
	if fb, ok := msgpack.AppendFast(e.buf.B, v); ok {
		e.buf.B = fb
		return nil, nil // the deferred function sets out
	}
	if err := msgpack.CheckNesting(v); err != nil {
		return nil, err // the library would recurse until the stack overflows
	}
	if e.enc == nil {
		e.enc = msgpack.NewEncoder(&e.buf)
	}
	return nil, msgpack.Own(e.enc.Encode(v))
}

// sizeHint is the encoded size of a byte payload, so big ones go straight
// into a pooled buffer of the right size.
func sizeHint(v any) int {
	switch v := v.(type) {
	case []byte:
		return len(v)
	case *[]byte:
		if v != nil {
			return len(*v)
		}
	case string:
		return len(v)
	}
	return msgpack.BytesLen(v) // codec.Raw
}
