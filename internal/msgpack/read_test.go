package msgpack

import (
	"math"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

func raw(b ...byte) []byte { return b }

func TestArrayLen(t *testing.T) {
	for _, c := range []struct {
		b       []byte
		n, hdr  int
		isArray bool
	}{
		{raw(0x90), 0, 1, true},
		{raw(0x9f), 15, 1, true},
		{raw(0xdc, 0x01, 0x00), 256, 3, true},
		{raw(0xdd, 0x00, 0x01, 0x00, 0x00), 65536, 5, true},
		{raw(0xdc, 0x01), 0, 0, false},
		{raw(0x80), 0, 0, false},
		{nil, 0, 0, false},
	} {
		n, hdr, ok := ArrayLen(c.b)
		assert.Equal(t, c.isArray, ok, "% x", c.b)
		if ok {
			assert.Equal(t, c.n, n, "% x", c.b)
			assert.Equal(t, c.hdr, hdr, "% x", c.b)
		}
	}
}

func TestReadStringBytesRejects(t *testing.T) {
	for _, b := range [][]byte{nil, raw(0xa2, 'a'), raw(0xd9), raw(0xd9, 0x02, 'a'), raw(0xda, 0x00),
		raw(0xdb, 0xff, 0xff, 0xff, 0xff), raw(0xc6, 0xff, 0xff, 0xff, 0xff, 'a'), raw(0xc0), raw(0x01)} {
		_, err := ReadStringBytes(b)
		assert.ErrorIs(t, err, ErrMalformed, "% x", b)
	}
}

func TestMapLen(t *testing.T) {
	for _, c := range []struct {
		b      []byte
		n, hdr int
		isMap  bool
	}{
		{raw(0x80), 0, 1, true},
		{raw(0x8f), 15, 1, true},
		{raw(0xde, 0x01, 0x00), 256, 3, true},
		{raw(0xdf, 0x00, 0x01, 0x00, 0x00), 65536, 5, true},
		{raw(0xde, 0x01), 0, 0, false},
		{raw(0x90), 0, 0, false},
		{nil, 0, 0, false},
	} {
		n, hdr, ok := MapLen(c.b)
		assert.Equal(t, c.isMap, ok, "% x", c.b)
		if ok {
			assert.Equal(t, c.n, n, "% x", c.b)
			assert.Equal(t, c.hdr, hdr, "% x", c.b)
		}
	}
}

// TestReadNumberMatchesMsgpack: every integer and float encoding reads back
// as the value msgpack encoded, with its length; cut encodings and other
// values are refused.
func TestReadNumberMatchesMsgpack(t *testing.T) {
	for _, v := range []any{int8(-5), int8(-100), int16(-300), int32(-70000), int64(math.MinInt64),
		int8(5), int16(300), int32(70000), int64(math.MaxInt64), uint8(200), uint16(60000),
		uint32(math.MaxUint32), uint64(math.MaxUint64), float32(1.5), -2.25} {
		var buf Buffer
		enc := vmsgpack.NewEncoder(&buf)
		require.NoError(t, enc.Encode(v)) // fixed-width forms, signed and unsigned
		got, n, err := ReadNumber(buf.B)
		require.NoError(t, err, "%T %v", v, v)
		assert.Equal(t, len(buf.B), n, "%T %v", v, v)
		switch x := v.(type) {
		case float32:
			assert.Equal(t, Num{F: float64(x), Kind: Float}, got)
		case float64:
			assert.Equal(t, Num{F: x, Kind: Float}, got)
		default:
			rv := reflect.ValueOf(v)
			if rv.CanInt() && rv.Int() < 0 {
				assert.Equal(t, Num{I: rv.Int(), Kind: Int}, got, "%T %v", v, v)
			} else if rv.CanInt() {
				assert.Equal(t, Num{U: uint64(rv.Int()), Kind: Uint}, got, "%T %v", v, v)
			} else {
				assert.Equal(t, Num{U: rv.Uint(), Kind: Uint}, got, "%T %v", v, v)
			}
		}
		_, _, err = ReadNumber(buf.B[:len(buf.B)-1])
		if len(buf.B) > 1 {
			assert.ErrorIs(t, err, ErrMalformed, "cut %T %v", v, v)
		}
	}
	for _, b := range [][]byte{nil, raw(0xc0), raw(0xa1, 'x'), raw(0x90), raw(0xc3)} {
		_, _, err := ReadNumber(b)
		assert.ErrorIs(t, err, ErrMalformed, "% x", b)
	}
	_, _, err := ReadInt(raw(0xca, 0, 0, 0, 0))
	assert.ErrorIs(t, err, ErrMalformed, "a float is not an integer")
}
