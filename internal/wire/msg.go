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
func Parse(b []byte) (Message, error) { return parse(b, nil) }

// ParseScanned is Parse for a message b that a Reader returned, whose
// elements begin at the offsets at that the Reader's scanner found while
// it framed b (Reader.Elements): the fields are cut at them instead of
// being walked again, b being known to be one whole value. Offsets that
// cannot be b's (too few or too many, the second one not right after the
// type, out of order or past the end) are ignored: it then walks b as
// Parse does.
func ParseScanned(b []byte, at []int32) (Message, error) { return parse(b, at) }

func parse(b []byte, at []int32) (Message, error) {
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
	if !fits(at, n, off, len(b)) {
		at = nil
	}
	for i := 0; i < n-1; i++ {
		var l int
		if at != nil {
			end := len(b)
			if i+2 < n {
				end = int(at[i+2])
			}
			l = end - off
		} else if l, err = msgpack.Skip(b[off:]); err != nil {
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

// fits reports whether at holds the starts of all n elements of a
// message of size bytes, the second one (after the type) at off, in
// increasing order.
func fits(at []int32, n, off, size int) bool {
	if len(at) != n || int(at[1]) != off {
		return false
	}
	for i := 2; i < n; i++ {
		if at[i] <= at[i-1] || int(at[i]) >= size {
			return false
		}
	}
	return true
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
