package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Message is a parsed envelope. Its byte fields alias the buffer it was
// parsed from and hold raw msgpack values, except Method, which holds the
// name's bytes.
type Message struct {
	Type   int
	ID     uint32
	Method []byte // request and notification
	Params []byte // request and notification: raw msgpack, usually an array
	Error  []byte // response: raw msgpack, nil when the error is nil
	Result []byte // response: raw msgpack
	Ext    []byte // Ferry extension map, nil when absent
}

// Parse splits a whole message (as a Reader returns it) into its fields.
func Parse(b []byte) (Message, error) {
	var m Message
	n, off, err := readArrayLen(b, 0)
	if err != nil {
		return m, err
	}
	typ, off, err := readUint(b, off)
	if err != nil {
		return m, fmt.Errorf("%w: message type", ErrMalformed)
	}
	m.Type = int(min(typ, 255))
	var fields [4][]byte // after the type: at most four more
	want := 3
	switch m.Type {
	case TypeRequest, TypeResponse:
		want = 4
	case TypeNotification:
	default:
		return m, fmt.Errorf("%w: unknown message type %d", ErrMalformed, typ)
	}
	if n != want && n != want+1 {
		return m, fmt.Errorf("%w: type %d message with %d elements", ErrMalformed, m.Type, n)
	}
	for i := 0; i < n-1; i++ {
		l, err := Skip(b[off:])
		if err != nil {
			return m, err
		}
		fields[i] = b[off : off+l]
		off += l
	}
	if off != len(b) {
		return m, fmt.Errorf("%w: trailing bytes", ErrMalformed)
	}
	rest := fields[:n-1]
	if m.Type != TypeNotification {
		id, err := readID(rest[0])
		if err != nil {
			return m, err
		}
		m.ID, rest = id, rest[1:]
	}
	if m.Type == TypeResponse {
		if len(rest[0]) != 1 || rest[0][0] != 0xc0 {
			m.Error = rest[0]
		}
		m.Result = rest[1]
	} else {
		name, err := ReadStringBytes(rest[0])
		if err != nil {
			return m, fmt.Errorf("%w: method name", ErrMalformed)
		}
		m.Method, m.Params = name, rest[1]
	}
	if len(rest) == 3 {
		m.Ext = rest[2]
	}
	return m, nil
}

// readID accepts a msgid of any integer width, or an integral float (one
// JavaScript client sends ids of 2^31 and up as float64), within uint32.
func readID(b []byte) (uint32, error) {
	var f float64
	switch b[0] {
	case 0xca:
		f = float64(math.Float32frombits(binary.BigEndian.Uint32(b[1:])))
	case 0xcb:
		f = math.Float64frombits(binary.BigEndian.Uint64(b[1:]))
	default:
		v, _, err := readUint(b, 0)
		if err != nil || v > math.MaxUint32 {
			return 0, fmt.Errorf("%w: msgid is not a uint32", ErrMalformed)
		}
		return uint32(v), nil
	}
	if f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		return 0, fmt.Errorf("%w: msgid is not a uint32", ErrMalformed)
	}
	return uint32(f), nil
}

// readUint reads a non-negative integer of any width at b[off].
func readUint(b []byte, off int) (uint64, int, error) {
	v, off, err := readInt(b, off)
	if err != nil {
		return 0, off, err
	}
	if v.neg {
		return 0, off, fmt.Errorf("%w: negative integer", ErrMalformed)
	}
	return v.u, off, nil
}

type intVal struct {
	u   uint64 // magnitude for non-negative values
	i   int64  // value for negative ones
	neg bool
}

// readInt reads an integer of any width at b[off]; b must hold it whole.
func readInt(b []byte, off int) (intVal, int, error) {
	if off >= len(b) {
		return intVal{}, off, ErrMalformed
	}
	c := b[off]
	switch {
	case c <= 0x7f:
		return intVal{u: uint64(c)}, off + 1, nil
	case c >= 0xe0:
		return intVal{i: int64(int8(c)), neg: true}, off + 1, nil
	}
	var n int
	switch c {
	case 0xcc, 0xd0:
		n = 1
	case 0xcd, 0xd1:
		n = 2
	case 0xce, 0xd2:
		n = 4
	case 0xcf, 0xd3:
		n = 8
	}
	if n == 0 || len(b) < off+1+n {
		return intVal{}, off, fmt.Errorf("%w: expected an integer", ErrMalformed)
	}
	p := b[off+1:]
	var u uint64
	switch n {
	case 1:
		u = uint64(p[0])
	case 2:
		u = uint64(binary.BigEndian.Uint16(p))
	case 4:
		u = uint64(binary.BigEndian.Uint32(p))
	case 8:
		u = binary.BigEndian.Uint64(p)
	}
	if c >= 0xd0 { // signed: sign-extend from n bytes
		s := int64(u<<(64-8*n)) >> (64 - 8*n)
		if s < 0 {
			return intVal{i: s, neg: true}, off + 1 + n, nil
		}
		u = uint64(s)
	}
	return intVal{u: u}, off + 1 + n, nil
}

// readArrayLen reads an array header at b[off].
func readArrayLen(b []byte, off int) (int, int, error) {
	if off >= len(b) {
		return 0, off, ErrMalformed
	}
	c := b[off]
	switch {
	case c&0xf0 == 0x90:
		return int(c & 0x0f), off + 1, nil
	case c == 0xdc && len(b) >= off+3:
		return int(binary.BigEndian.Uint16(b[off+1:])), off + 3, nil
	case c == 0xdd && len(b) >= off+5:
		return int(binary.BigEndian.Uint32(b[off+1:])), off + 5, nil
	}
	return 0, off, ErrNotMessage
}

// ArrayLen returns the element count and header size of an array value, or
// ok=false when b holds some other value.
func ArrayLen(b []byte) (n, hdr int, ok bool) {
	n, off, err := readArrayLen(b, 0)
	return n, off, err == nil
}

// ReadStringBytes returns the bytes of a str or bin value (method names may
// arrive as either).
func ReadStringBytes(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, ErrMalformed
	}
	c := b[0]
	var n, h int
	switch {
	case c&0xe0 == 0xa0:
		n, h = int(c&0x1f), 1
	case (c == 0xd9 || c == 0xc4) && len(b) >= 2:
		n, h = int(b[1]), 2
	case (c == 0xda || c == 0xc5) && len(b) >= 3:
		n, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case (c == 0xdb || c == 0xc6) && len(b) >= 5:
		n, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, ErrMalformed
	}
	if n > len(b)-h {
		return nil, ErrMalformed
	}
	return b[h : h+n], nil
}
