package msgpack

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The header readers below are the only code that decodes msgpack numbers
// and container lengths; the wire envelopes and the struct decoders both
// use them. Each reads the value at b[0] and never past len(b).

// NumKind says which field of a Num holds the number.
type NumKind uint8

// The kinds of number ReadNumber returns.
const (
	Uint  NumKind = iota + 1 // a non-negative integer, in U
	Int                      // a negative integer, in I
	Float                    // a float32 or float64, in F
)

// Num is a decoded msgpack number.
type Num struct {
	U    uint64
	I    int64
	F    float64
	Kind NumKind
}

// ReadNumber reads the integer (of any width and signedness) or float at
// b[0] and returns it with its encoded length.
func ReadNumber(b []byte) (Num, int, error) {
	if len(b) == 0 {
		return Num{}, 0, fmt.Errorf("%w: truncated value", ErrMalformed)
	}
	c := b[0]
	switch {
	case c <= 0x7f:
		return Num{U: uint64(c), Kind: Uint}, 1, nil
	case c >= 0xe0:
		return Num{I: int64(int8(c)), Kind: Int}, 1, nil
	case c < 0xca || c > 0xd3:
		return Num{}, 0, fmt.Errorf("%w: cannot decode msgpack code 0x%02x as a number", ErrMalformed, c)
	}
	size := numSize[c-0xca]
	if len(b) < 1+size {
		return Num{}, 0, fmt.Errorf("%w: truncated value", ErrMalformed)
	}
	u := beUint(b[1:], size)
	switch {
	case c == 0xca:
		return Num{F: float64(math.Float32frombits(uint32(u))), Kind: Float}, 5, nil
	case c == 0xcb:
		return Num{F: math.Float64frombits(u), Kind: Float}, 9, nil
	case c >= 0xd0: // signed: sign-extend from size bytes
		if s := int64(u<<(64-8*size)) >> (64 - 8*size); s < 0 {
			return Num{I: s, Kind: Int}, 1 + size, nil
		}
	}
	return Num{U: u, Kind: Uint}, 1 + size, nil
}

// numSize is the payload size of the number codes 0xca (float32) to 0xd3
// (int64).
var numSize = [10]int{4, 8, 1, 2, 4, 8, 1, 2, 4, 8}

// beUint reads a big-endian unsigned integer of size 1, 2, 4 or 8 bytes.
func beUint(b []byte, size int) uint64 {
	switch size {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	}
	return binary.BigEndian.Uint64(b)
}

// ReadInt reads the integer at b[0]; a float is an error.
func ReadInt(b []byte) (Num, int, error) {
	v, n, err := ReadNumber(b)
	if err == nil && v.Kind == Float {
		return Num{}, 0, fmt.Errorf("%w: expected an integer", ErrMalformed)
	}
	return v, n, err
}

// ReadUint reads the non-negative integer at b[0].
func ReadUint(b []byte) (uint64, int, error) {
	v, n, err := ReadInt(b)
	if err == nil && v.Kind == Int {
		return 0, 0, fmt.Errorf("%w: negative integer", ErrMalformed)
	}
	return v.U, n, err
}

// ArrayLen returns the element count and header size of the array at
// b[0], or ok=false when b starts with some other value or a cut header.
func ArrayLen(b []byte) (n, hdr int, ok bool) {
	return containerLen(b, 0x90, 0xdc)
}

// MapLen returns the pair count and header size of the map at b[0], or
// ok=false when b starts with some other value or a cut header.
func MapLen(b []byte) (n, hdr int, ok bool) {
	return containerLen(b, 0x80, 0xde)
}

// containerLen reads an array or map header: fix is the fixarray or fixmap
// code, c16 the code of the 16-bit form (the 32-bit form follows it).
func containerLen(b []byte, fix, c16 byte) (n, hdr int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch c := b[0]; {
	case c&0xf0 == fix:
		return int(c & 0x0f), 1, true
	case c == c16 && len(b) >= 3:
		return int(binary.BigEndian.Uint16(b[1:])), 3, true
	case c == c16+1 && len(b) >= 5:
		return int(binary.BigEndian.Uint32(b[1:])), 5, true
	}
	return 0, 0, false
}

// ReadString returns the bytes of the str or bin value at b[0] and the
// value's encoded length.
func ReadString(b []byte) (s []byte, n int, err error) {
	if len(b) == 0 {
		return nil, 0, ErrMalformed
	}
	var size, h int
	switch c := b[0]; {
	case c&0xe0 == 0xa0:
		size, h = int(c&0x1f), 1
	case (c == 0xd9 || c == 0xc4) && len(b) >= 2:
		size, h = int(b[1]), 2
	case (c == 0xda || c == 0xc5) && len(b) >= 3:
		size, h = int(binary.BigEndian.Uint16(b[1:])), 3
	case (c == 0xdb || c == 0xc6) && len(b) >= 5:
		size, h = int(binary.BigEndian.Uint32(b[1:])), 5
	default:
		return nil, 0, ErrMalformed
	}
	if size > len(b)-h {
		return nil, 0, ErrMalformed
	}
	return b[h : h+size], h + size, nil
}

// ReadStringBytes returns the bytes of the str or bin value at b[0]
// (method names may arrive as either).
func ReadStringBytes(b []byte) ([]byte, error) {
	s, _, err := ReadString(b)
	return s, err
}
