package wire

import (
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
)

// TestVreview14HelloMaxBinKey: PROTOCOL.md 4 ("Message size limits"): "a
// map whose keys are not all str" means "unknown", and HelloMax's doc
// says the same. A bin key, "max" or another, is no str: such a map's
// "max" is as if absent.
func TestVreview14HelloMaxBinKey(t *testing.T) {
	bin := func(s string) []byte { return msgpack.AppendBin(nil, []byte(s)) }
	str := func(s string) []byte { return msgpack.AppendString(nil, s) }
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want uint64
	}{
		{"str key", cat(msgpack.AppendMapHeader(nil, 1), str("max"), []byte{0xcd, 0x08, 0x00}), 2048},
		{"bin key max", cat(msgpack.AppendMapHeader(nil, 1), bin("max"), []byte{0xcd, 0x08, 0x00}), 0},
		{"bin key beside", cat(msgpack.AppendMapHeader(nil, 2), str("max"), []byte{0xcd, 0x08, 0x00}, bin("token"), str("x")), 0},
		{"str8 key", cat(msgpack.AppendMapHeader(nil, 1), []byte{0xd9, 3, 'm', 'a', 'x'}, []byte{0xcd, 0x08, 0x00}), 2048},
		{"cut map", cat(msgpack.AppendMapHeader(nil, 3), str("max"), []byte{0x05}), 0},
	} {
		assert.Equal(t, tc.want, HelloMax(tc.b), tc.name)
	}
}
