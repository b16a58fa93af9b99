package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/ferryrpc/ferry/internal/msgpack"
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
	n, off, ok := msgpack.ArrayLen(b)
	if !ok {
		return m, ErrNotMessage
	}
	typ, tl, err := msgpack.ReadUint(b[off:])
	off += tl
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
		l, err := msgpack.Skip(b[off:])
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
		name, err := msgpack.ReadStringBytes(rest[0])
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
		v, _, err := msgpack.ReadUint(b)
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
