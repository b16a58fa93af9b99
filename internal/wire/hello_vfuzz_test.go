package wire

import (
	"bytes"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// FuzzHelloLimits reads "max" and "depth" from a hello's map of any bytes
// (a peer's hello or its answer, PROTOCOL.md 4, "Message size limits")
// and checks HelloMax and HelloDepth against a walk by msgpack's own
// decoder of what the doc says counts: a map whose keys are all str, the
// key's last value when it is a non-negative integer in any width,
// otherwise unknown (0 for max, 64 for depth). What PeerMax learns from
// them is unknown or at least the floor.
func FuzzHelloLimits(f *testing.F) {
	m := func(pairs ...[]byte) []byte {
		b := msgpack.AppendMapHeader(nil, len(pairs)/2)
		for _, p := range pairs {
			b = append(b, p...)
		}
		return b
	}
	s := func(v string) []byte { return msgpack.AppendString(nil, v) }
	for _, seed := range [][]byte{
		m(s("max"), raw(0xce, 0, 0x40, 0, 0), s("depth"), raw(0x10)),
		m(s("token"), s("t"), s("settle"), raw(0xc3), s("max"), raw(0xd3, 0, 0, 0, 0, 0, 0, 4, 0)),
		m(s("max"), raw(0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), s("depth"), raw(0xd0, 0xf0)),
		m(s("max"), raw(0x01), s("max"), raw(0xcb, 0x40, 0x30, 0, 0, 0, 0, 0, 0)),
		m(s("depth"), raw(0x91, 0x10), s("max"), raw(0xcd, 0x04)),
		m(raw(0xc4, 0x03, 'm', 'a', 'x'), raw(0x10)),
		m(raw(0xd9, 0x05, 'd', 'e', 'p', 't', 'h'), raw(0xcc, 0x20)),
		cat(m(s("max"), raw(0x7f)), raw(0x81, 0xa3, 'm', 'a', 'x', 0x10)),
		{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa3, 'm', 'a', 'x', 0x10},
		{0xde, 0x00, 0x01, 0xa3, 'm', 'a', 'x', 0xd4, 0x01, 0x10},
		{0xc0},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		wantMax, wantDepth := refHelloUint(b, HelloMaxKey), refHelloUint(b, HelloDepthKey)
		require.Equal(t, wantMax, HelloMax(b), "max")
		if wantDepth == 0 {
			wantDepth = DefaultMaxDepth
		}
		require.Equal(t, wantDepth, HelloDepth(b), "depth")

		var p PeerMax
		p.Learn(HelloMax(b))
		p.LearnDepth(HelloDepth(b))
		if got := p.Max(); got != 0 {
			require.GreaterOrEqual(t, got, MinMaxMessage)
		}
		require.GreaterOrEqual(t, p.Depth(), MinMaxDepth)
	})
}

// refHelloUint is what PROTOCOL.md 4 says a hello's key is worth, walked
// with msgpack's own decoder: 0 unless b starts with a whole map whose
// keys are all str and whose last value under key is a non-negative
// integer.
func refHelloUint(b []byte, key string) uint64 {
	d := vmsgpack.NewDecoder(bytes.NewReader(b))
	n, err := d.DecodeMapLen()
	if err != nil || n < 0 {
		return 0
	}
	var v uint64
	for range n {
		c, err := d.PeekCode()
		if err != nil || !(msgpcode.IsFixedString(c) || c == msgpcode.Str8 || c == msgpcode.Str16 || c == msgpcode.Str32) {
			return 0
		}
		k, err := d.DecodeString()
		if err != nil {
			return 0
		}
		c, err = d.PeekCode()
		if err != nil {
			return 0
		}
		if k != key || !isIntCode(c) {
			// Decoded, a container would be allocated at its declared
			// size (the reason Ferry checks bytes before msgpack sees
			// them): skipped, it is read.
			if d.Skip() != nil {
				return 0
			}
			if k == key {
				v = 0
			}
			continue
		}
		x, err := d.DecodeInterface()
		if err != nil {
			return 0
		}
		switch x := x.(type) {
		case int8, int16, int32, int64:
			v = uint64(max(toInt64(x), 0))
		case uint8:
			v = uint64(x)
		case uint16:
			v = uint64(x)
		case uint32:
			v = uint64(x)
		case uint64:
			v = x
		default:
			v = 0
		}
	}
	return v
}

// isIntCode reports whether c starts a msgpack integer.
func isIntCode(c byte) bool {
	return msgpcode.IsFixedNum(c) || c >= msgpcode.Uint8 && c <= msgpcode.Uint64 || c >= msgpcode.Int8 && c <= msgpcode.Int64
}

// toInt64 returns a signed integer as an int64, anything else as -1.
func toInt64(x any) int64 {
	switch x := x.(type) {
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	}
	return -1
}
