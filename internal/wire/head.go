package wire

import (
	"encoding/binary"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// Head is the start of a request or a response whose payload is one bin
// value: everything up to and including the bin's header. A Reader with
// direct bodies on (SetDirect) returns a head instead of the whole message
// when the bin is large, so that its body can be read straight into its
// destination (Reader.ReadBody).
type Head struct {
	// Message has Type, ID and, for a request, Method; Params, Result,
	// Error and Ext are nil (a response's error is nil: a response with an
	// error is never split).
	Message
	Len     int  // bytes of the head, the bin's header included
	Body    int  // bytes of the bin's body, which follow the head
	Wrapped bool // a request's params are an array holding only the bin
	HasExt  bool // an extension map follows the body
}

// ParseHead parses b, which starts with a message whose body may be
// partial, as a Head. It reports false unless b starts with a request of
// params [bin] or bin, or a response with a nil error and a bin result,
// and holds at least the bin's header.
func ParseHead(b []byte) (Head, bool) {
	var h Head
	n, off, ok := msgpack.ArrayLen(b)
	if !ok || off >= len(b) {
		return h, false
	}
	switch h.Type = int(b[off]); h.Type {
	case TypeRequest, TypeResponse:
	default:
		return h, false
	}
	if n != 4 && n != 5 {
		return h, false
	}
	h.HasExt = n == 5
	off++
	l := idLen(b[off:])
	if l == 0 {
		return h, false
	}
	id, err := readID(b[off : off+l])
	if err != nil {
		return h, false
	}
	h.ID = id
	off += l
	if off >= len(b) {
		return h, false
	}
	if h.Type == TypeRequest {
		name, l, err := msgpack.ReadString(b[off:])
		if err != nil {
			return h, false
		}
		h.Method = name
		off += l
		if off < len(b) && b[off] == 0x91 {
			h.Wrapped = true
			off++
		}
	} else {
		if b[off] != 0xc0 {
			return h, false
		}
		off++
	}
	size, l := binHeader(b[off:])
	if l == 0 {
		return h, false
	}
	h.Len, h.Body = off+l, size
	return h, true
}

// idLen is the encoded length of the msgid at b[0] when b holds all of it
// and it is a positive integer or a float (readID decides the rest), and
// 0 otherwise.
func idLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	l := 0
	switch c := b[0]; {
	case c <= 0x7f:
		l = 1
	case c == 0xcc:
		l = 2
	case c == 0xcd:
		l = 3
	case c == 0xce || c == 0xca:
		l = 5
	case c == 0xcf || c == 0xcb:
		l = 9
	}
	if l > len(b) {
		return 0
	}
	return l
}

// binHeader reads the bin header at b[0]: the body's length and the
// header's, or a header length of 0 when b does not start with a whole bin
// header.
func binHeader(b []byte) (size, hdr int) {
	if len(b) == 0 {
		return 0, 0
	}
	switch c := b[0]; {
	case c == 0xc4 && len(b) >= 2:
		return int(b[1]), 2
	case c == 0xc5 && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), 3
	case c == 0xc6 && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), 5
	}
	return 0, 0
}
