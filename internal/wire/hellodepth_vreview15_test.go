package wire

import (
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
)

// TestVreview15HelloDepthTypes: PROTOCOL.md 4: "an absent "depth", and one
// that is not a positive integer, mean 64". A positive integer in any of
// msgpack's integer encodings (a peer's library may write 16 as an int8)
// is read; every other type is 64; a duplicated key counts as its last;
// a map with a bin key says nothing usable.
func TestVreview15HelloDepthTypes(t *testing.T) {
	m := func(val ...byte) []byte {
		return append(msgpack.AppendString(msgpack.AppendMapHeader(nil, 1), "depth"), val...)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want uint64
	}{
		{"fixint", m(0x10), 16},
		{"uint8", m(0xcc, 0x10), 16},
		{"uint16", m(0xcd, 0x00, 0x10), 16},
		{"uint32", m(0xce, 0, 0, 0, 0x10), 16},
		{"uint64", m(0xcf, 0, 0, 0, 0, 0, 0, 0, 0x10), 16},
		{"int8", m(0xd0, 0x10), 16},
		{"int16", m(0xd1, 0x00, 0x10), 16},
		{"int32", m(0xd2, 0, 0, 0, 0x10), 16},
		{"int64", m(0xd3, 0, 0, 0, 0, 0, 0, 0, 0x10), 16},
		{"negative fixint", m(0xf0), DefaultMaxDepth},
		{"int8 -16", m(0xd0, 0xf0), DefaultMaxDepth},
		{"nil", m(0xc0), DefaultMaxDepth},
		{"true", m(0xc3), DefaultMaxDepth},
		{"float64 16", m(0xcb, 0x40, 0x30, 0, 0, 0, 0, 0, 0), DefaultMaxDepth},
		{"float32 16", m(0xca, 0x41, 0x80, 0, 0), DefaultMaxDepth},
		{"str", m(0xa2, '1', '6'), DefaultMaxDepth},
		{"bin", m(0xc4, 1, 0x10), DefaultMaxDepth},
		{"array", m(0x91, 0x10), DefaultMaxDepth},
		{"map", m(0x81, 0x10, 0x10), DefaultMaxDepth},
		{"fixext1", m(0xd4, 0x01, 0x10), DefaultMaxDepth},
		{"cut", m(0xcd, 0x00), DefaultMaxDepth},
		{"duplicate: the last", append(msgpack.AppendString(append(msgpack.AppendString(msgpack.AppendMapHeader(nil, 2), "depth"), 0x08), "depth"), 0x10), 16},
		{"bin key", append(msgpack.AppendBin(msgpack.AppendMapHeader(nil, 1), []byte("depth")), 0x10), DefaultMaxDepth},
		{"not a map", []byte{0x91, 0x10}, DefaultMaxDepth},
		{"empty", nil, DefaultMaxDepth},
	} {
		assert.Equal(t, tc.want, HelloDepth(tc.b), tc.name)
	}
}
