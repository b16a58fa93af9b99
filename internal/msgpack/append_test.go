package msgpack

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// refEncode encodes with msgpack's own encoder configured as Ferry's codec.
func refEncode(t *testing.T, fn func(*vmsgpack.Encoder) error) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := vmsgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	require.NoError(t, fn(enc))
	return buf.Bytes()
}

func TestAppendIntBoundaries(t *testing.T) {
	ints := []int64{
		0, 1, 31, 32, 126, 127, 128, 255, 256, math.MaxInt16, math.MaxUint16, math.MaxUint16 + 1,
		math.MaxInt32, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
		-1, -31, -32, -33, -127, -128, -129, -255, -256, -32767, -32768, -32769,
		math.MinInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MinInt64 + 1, math.MinInt64,
	}
	for _, v := range ints {
		b := AppendInt([]byte{0xee}, v)[1:] // appends, keeps the prefix
		var got int64
		require.NoError(t, vmsgpack.Unmarshal(b, &got), "%d", v)
		assert.Equal(t, v, got)
		assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeInt(v) }), b, "%d", v)
		l, err := Skip(b)
		require.NoError(t, err)
		assert.Equal(t, len(b), l)

		iv, off, err := ReadInt(b)
		require.NoError(t, err)
		assert.Equal(t, len(b), off)
		if v < 0 {
			assert.Equal(t, Int, iv.Kind)
			assert.Equal(t, v, iv.I)
		} else {
			assert.Equal(t, Uint, iv.Kind)
			assert.Equal(t, uint64(v), iv.U)
		}
	}
}

func TestAppendUintBoundaries(t *testing.T) {
	uints := []uint64{
		0, 1, 127, 128, 255, 256, math.MaxUint16, math.MaxUint16 + 1, math.MaxUint32, math.MaxUint32 + 1,
		math.MaxInt64, math.MaxInt64 + 1, math.MaxUint64,
	}
	wantLen := map[uint64]int{0: 1, 127: 1, 128: 2, 255: 2, 256: 3, math.MaxUint16: 3, math.MaxUint16 + 1: 5,
		math.MaxUint32: 5, math.MaxUint32 + 1: 9, math.MaxUint64: 9}
	for _, v := range uints {
		b := AppendUint(nil, v)
		var got uint64
		require.NoError(t, vmsgpack.Unmarshal(b, &got), "%d", v)
		assert.Equal(t, v, got)
		assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeUint(v) }), b, "%d", v)
		if n, ok := wantLen[v]; ok {
			assert.Len(t, b, n, "%d", v)
		}
		r, off, err := ReadUint(b)
		require.NoError(t, err)
		assert.Equal(t, v, r)
		assert.Equal(t, len(b), off)
	}
	_, _, err := ReadUint(AppendInt(nil, -1))
	assert.ErrorIs(t, err, ErrMalformed)
	_, _, err = ReadInt([]byte{0xcd, 0x01})
	assert.ErrorIs(t, err, ErrMalformed)
	_, _, err = ReadInt([]byte{0xc0})
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestAppendString(t *testing.T) {
	for _, n := range []int{0, 1, 31, 32, 255, 256, 65535, 65536} {
		str := strings.Repeat("é", n/2) + strings.Repeat("x", n%2)
		require.Len(t, str, n)
		b := AppendString(nil, str)
		var got string
		require.NoError(t, vmsgpack.Unmarshal(b, &got), "len %d", n)
		assert.Equal(t, str, got, "len %d", n)
		assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeString(str) }), b, "len %d", n)
		name, err := ReadStringBytes(b)
		require.NoError(t, err)
		assert.Equal(t, str, string(name))
		l, err := Skip(b)
		require.NoError(t, err)
		assert.Equal(t, len(b), l)
	}
	hdr := map[int]byte{0: 0xa0, 31: 0xbf, 32: 0xd9, 255: 0xd9, 256: 0xda, 65535: 0xda, 65536: 0xdb}
	for n, c := range hdr {
		assert.Equal(t, c, AppendString(nil, strings.Repeat("a", n))[0], "len %d", n)
	}
}

func TestAppendContainerHeaders(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 65535, 65536} {
		arr := AppendArrayHeader(nil, n)
		got, hdr, ok := ArrayLen(arr)
		require.True(t, ok)
		assert.Equal(t, n, got)
		assert.Equal(t, len(arr), hdr)
		assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeArrayLen(n) }), arr, "array %d", n)
		var vals []any
		require.NoError(t, vmsgpack.Unmarshal(cat(arr, rep([]byte{0xc0}, n)), &vals), "array %d", n)
		assert.Len(t, vals, n)

		m := AppendMapHeader(nil, n)
		got, hdr, ok = MapLen(m)
		require.True(t, ok)
		assert.Equal(t, n, got)
		assert.Equal(t, len(m), hdr)
		assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeMapLen(n) }), m, "map %d", n)
		body := m
		for i := 0; i < n; i++ {
			body = AppendNil(AppendUint(body, uint64(i)))
		}
		var mv map[uint64]any
		require.NoError(t, vmsgpack.Unmarshal(body, &mv), "map %d", n)
		assert.Len(t, mv, n)
	}
}

func TestAppendScalars(t *testing.T) {
	var v any
	require.NoError(t, vmsgpack.Unmarshal(AppendNil(nil), &v))
	assert.Nil(t, v)
	for _, want := range []bool{true, false} {
		var got bool
		require.NoError(t, vmsgpack.Unmarshal(AppendBool(nil, want), &got))
		assert.Equal(t, want, got)
	}
	assert.Equal(t, []byte{0xc0}, AppendStringMap(nil, nil))
	assert.Equal(t, []byte{0xc0}, AppendStringMap(nil, map[string]string{}))
	in := map[string]string{"k": "v", "": "", "long": strings.Repeat("z", 300)}
	var out map[string]string
	require.NoError(t, vmsgpack.Unmarshal(AppendStringMap(nil, in), &out))
	assert.Equal(t, in, out)
}

func TestBufferIsAnEncoderTarget(t *testing.T) {
	var buf Buffer
	enc := vmsgpack.NewEncoder(&buf)
	v := map[string]any{"a": []any{1, "two", 3.0, nil, []byte{4}}}
	require.NoError(t, enc.Encode(v))
	want, err := vmsgpack.Marshal(v)
	require.NoError(t, err)
	assert.Equal(t, want, buf.B)
	n, err := buf.WriteString("xy")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	require.NoError(t, buf.WriteByte('z'))
	assert.Equal(t, "xyz", string(buf.B[len(buf.B)-3:]))
}

func TestAppendBinAndFloats(t *testing.T) {
	for _, n := range []int{0, 1, 255, 256, 65535, 65536} {
		p := rep([]byte{'b'}, n)
		b := AppendBin(nil, p)
		assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeBytes(p) }), b, "bin %d", n)
		s, l, err := ReadString(b)
		require.NoError(t, err)
		assert.Equal(t, p, s)
		assert.Equal(t, len(b), l)
	}
	assert.Equal(t, []byte{0xc0}, AppendBin(nil, nil))
	assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeFloat32(1.5) }), AppendFloat32(nil, 1.5))
	assert.Equal(t, refEncode(t, func(e *vmsgpack.Encoder) error { return e.EncodeFloat64(-2.5) }), AppendFloat64(nil, -2.5))
}
