package codec_test

import (
	"bytes"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestRawRoundTrip(t *testing.T) {
	values := map[string][]byte{
		"str":              {0xa1, 'a'},
		"bin":              {0xc4, 0x01, 'a'},
		"str8":             cat([]byte{0xd9, 0x20}, rep([]byte{'s'}, 32)),
		"bin16":            cat([]byte{0xc5, 0x01, 0x00}, rep([]byte{0x00}, 256)),
		"int-key map":      {0x82, 0x01, 0xa1, 'a', 0xcd, 0x01, 0x00, 0xc3},
		"nil-key map":      {0x81, 0xc0, 0x01},
		"array key map":    {0x81, 0x91, 0x01, 0x02},
		"nested":           {0x92, 0x81, 0xa1, 'k', 0x92, 0xc4, 0x00, 0xa0, 0x91, 0x90},
		"unregistered ext": {0xd6, 0x05, 1, 2, 3, 4},
		"ext8":             {0xc7, 0x02, 0x7f, 0xc1, 0xc1},
		"float32":          {0xca, 0x3f, 0x80, 0, 0},
		"wide int form":    {0xcf, 0, 0, 0, 0, 0, 0, 0, 1},
		"nil":              {0xc0},
	}
	for name, b := range values {
		t.Run(name, func(t *testing.T) {
			var r codec.Raw
			require.NoError(t, codec.Unmarshal(b, &r))
			if name == "nil" {
				assert.Nil(t, r, "msgpack nil decodes to a nil Raw")
			} else {
				assert.Equal(t, codec.Raw(b), r)
			}
			out, err := codec.Marshal(r)
			require.NoError(t, err)
			assert.Equal(t, b, out, "the value changed on its way through")

			// Inside a struct and a slice, next to other fields.
			type holder struct {
				Before int
				R      codec.Raw
				After  string
			}
			enc, err := codec.Marshal(holder{Before: 1, R: r, After: "z"})
			require.NoError(t, err)
			var h holder
			require.NoError(t, codec.Unmarshal(enc, &h))
			assert.Equal(t, holder{Before: 1, R: r, After: "z"}, h)

			enc, err = codec.Marshal([]codec.Raw{r, r})
			require.NoError(t, err)
			var rs []codec.Raw
			require.NoError(t, codec.Unmarshal(enc, &rs))
			assert.Equal(t, []codec.Raw{r, r}, rs)
		})
	}
}

func TestRawStrAndBinStayApart(t *testing.T) {
	var str, bin codec.Raw
	require.NoError(t, codec.Unmarshal([]byte{0xa1, 'a'}, &str))
	require.NoError(t, codec.Unmarshal([]byte{0xc4, 0x01, 'a'}, &bin))
	assert.NotEqual(t, str, bin)
	var s string
	var b []byte
	require.NoError(t, vmsgpack.Unmarshal(str, &s))
	require.NoError(t, vmsgpack.Unmarshal(bin, &b))
	assert.Equal(t, "a", s)
	assert.Equal(t, []byte("a"), b)
}

func TestRawNilEncodesAsNil(t *testing.T) {
	out, err := codec.Marshal(codec.Raw(nil))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xc0}, out)
	out, err = codec.Marshal(struct{ R codec.Raw }{})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x81, 0xa1, 'R', 0xc0}, out)
}

// bombs are inputs that crash or exhaust a process when msgpack decodes
// them blindly (DESIGN.md section 4).
var bombs = map[string]struct {
	b   []byte
	err error
}{
	"array32 of 2^32-1":       {[]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, wire.ErrTooLarge},
	"map32 of 2^32-1":         {[]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, wire.ErrTooLarge},
	"bin32 of 4 GiB":          {[]byte{0xc6, 0xff, 0xff, 0xff, 0xff}, wire.ErrTooLarge},
	"str32 of 4 GiB":          {[]byte{0xdb, 0xff, 0xff, 0xff, 0xff}, wire.ErrTooLarge},
	"ext32 of 4 GiB":          {[]byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}, wire.ErrTooLarge},
	"bin32 one past the end":  {[]byte{0xc6, 0x00, 0x00, 0x00, 0x02, 0x01}, wire.ErrTooLarge},
	"nested array32":          {[]byte{0x91, 0x91, 0xdd, 0xff, 0xff, 0xff, 0xff}, wire.ErrTooLarge},
	"100,000 nested arrays":   {rep([]byte{0x91}, 100_000), wire.ErrTooDeep},
	"nested array16 headers":  {rep([]byte{0xdc, 0xff, 0xff}, 2048), wire.ErrTooLarge}, // 65535 items > 6 KiB
	"100,000 nested maps":     {rep([]byte{0x81, 0xc0}, 100_000), wire.ErrTooDeep},
	"reserved byte":           {[]byte{0x92, 0x01, 0xc1}, wire.ErrMalformed},
	"array16 of 65535, short": {[]byte{0xdc, 0xff, 0xff, 0xc0}, wire.ErrTooLarge},
}

func TestUnmarshalRejectsBombs(t *testing.T) {
	for name, c := range bombs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			var a any
			var s []any
			var m map[string]any
			var r codec.Raw
			var st struct{ A []int }
			runtime.ReadMemStats(&before)
			errs := []error{
				codec.Unmarshal(c.b, &a), codec.Unmarshal(c.b, &s), codec.Unmarshal(c.b, &m),
				codec.Unmarshal(c.b, &r), codec.Unmarshal(c.b, &st),
			}
			runtime.ReadMemStats(&after)
			for _, err := range errs {
				require.ErrorIs(t, err, codec.ErrDecode)
				require.ErrorIs(t, err, c.err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte bomb rejected 5 times, %d bytes allocated", len(c.b), alloc)
			assert.Less(t, alloc, uint64(64<<10))
		})
	}
}

func TestUnmarshalRejectsTrailingAndTruncated(t *testing.T) {
	var v any
	err := codec.Unmarshal([]byte{0x01, 0x02}, &v)
	require.ErrorIs(t, err, codec.ErrDecode)
	assert.ErrorContains(t, err, "trailing")
	err = codec.Unmarshal(cat([]byte{0x91, 0xa1, 'a'}, []byte{0x91}), &v)
	assert.ErrorIs(t, err, codec.ErrDecode)

	for _, b := range [][]byte{nil, {0x92, 0x01}, {0xa2, 'a'}, {0xcd, 0x01}, {0x81, 0xa1, 'k'}} {
		err := codec.Unmarshal(b, &v)
		assert.ErrorIs(t, err, codec.ErrDecode, "% x", b)
	}
}

func TestValidate(t *testing.T) {
	n, err := codec.Validate([]byte{0x92, 0x01, 0xa1, 'x', 0xff, 0xff})
	require.NoError(t, err)
	assert.Equal(t, 4, n)

	_, err = codec.Validate([]byte{0x92, 0x01})
	assert.ErrorIs(t, err, codec.ErrDecode)
	_, err = codec.Validate(nil)
	assert.ErrorIs(t, err, codec.ErrDecode)
	for name, c := range bombs {
		_, err := codec.Validate(c.b)
		assert.ErrorIs(t, err, c.err, name)
	}

	// Depth: MaxDepth nested arrays pass, one more does not.
	ok := cat(rep([]byte{0x91}, codec.MaxDepth), []byte{0x00})
	n, err = codec.Validate(ok)
	require.NoError(t, err)
	assert.Equal(t, len(ok), n)
	var v any
	require.NoError(t, codec.Unmarshal(ok, &v))
	_, err = codec.Validate(cat(rep([]byte{0x91}, codec.MaxDepth+1), []byte{0x00}))
	assert.ErrorIs(t, err, wire.ErrTooDeep)
}

func TestDecodeIntoAny(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want any
	}{
		{"positive fixint", []byte{0x05}, int64(5)},
		{"negative fixint", []byte{0xff}, int64(-1)},
		{"uint8", []byte{0xcc, 0xc8}, uint64(200)},
		{"uint64 max", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint64(math.MaxUint64)},
		{"int8", []byte{0xd0, 0x80}, int64(-128)},
		{"int16", []byte{0xd1, 0x80, 0x00}, int64(math.MinInt16)},
		{"int64 min", []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}, int64(math.MinInt64)},
		{"float32", []byte{0xca, 0x3f, 0xc0, 0, 0}, float64(1.5)},
		{"float64", []byte{0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0}, float64(1.5)},
		{"str", []byte{0xa2, 'h', 'i'}, "hi"},
		{"nil", []byte{0xc0}, nil},
		{"array", []byte{0x93, 0x01, 0xcc, 0xff, 0xa0}, []any{int64(1), uint64(255), ""}},
		{"string-key map", []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x90}, map[string]any{"a": int64(1), "b": []any{}}},
		{"int-key map", []byte{0x82, 0x01, 0xa1, 'a', 0xd0, 0xfe, 0xc3}, map[any]any{int64(1): "a", int64(-2): true}},
		{"mixed-key map", []byte{0x82, 0xa1, 'a', 0x01, 0xcc, 0xc8, 0x02}, map[any]any{"a": int64(1), uint64(200): int64(2)}},
		{"nil-key map", []byte{0x81, 0xc0, 0x01}, map[any]any{nil: int64(1)}},
		{"nested int-key map", []byte{0x91, 0x81, 0x81, 0x01, 0x02, 0x03}, nil}, // map key: rejected below
		{"map in array", []byte{0x91, 0x81, 0x07, 0x08}, []any{map[any]any{int64(7): int64(8)}}},
	}
	dec := msgpack.NewDecoder()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var v any
			err := codec.Unmarshal(c.b, &v)
			if c.name == "nested int-key map" {
				assert.ErrorIs(t, err, codec.ErrDecode)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, c.want, v)
			// A reused Decoder gives the same answer.
			var w any
			require.NoError(t, dec.Decode(c.b, &w))
			assert.Equal(t, c.want, w)
		})
	}
}

func TestDecoderRecoversFromMsgpackPanics(t *testing.T) {
	type withTime struct{ T time.Time }
	cases := map[string]struct {
		b []byte
		v func() any
	}{
		"nil into a time.Time field":   {[]byte{0x81, 0xa1, 'T', 0xc0}, func() any { return new(withTime) }},
		"array key into map[any]any":   {[]byte{0x81, 0x91, 0x01, 0x02}, func() any { return new(map[any]any) }},
		"map key into map[any]any":     {[]byte{0x81, 0x80, 0x02}, func() any { return new(map[any]any) }},
		"array key into any":           {[]byte{0x81, 0x91, 0x01, 0x02}, func() any { return new(any) }},
		"map key into any":             {[]byte{0x82, 0x01, 0x02, 0x81, 0x01, 0x02, 0x03}, func() any { return new(any) }},
		"bin key into map[any]any ok?": {[]byte{0x81, 0xc4, 0x01, 'k', 0x02}, nil},
	}
	dec := msgpack.NewDecoder()
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if c.v == nil {
				// A bin key decodes as a string, which is hashable.
				var m map[any]any
				require.NoError(t, codec.Unmarshal(c.b, &m))
				assert.Equal(t, map[any]any{"k": int64(2)}, m)
				return
			}
			assert.NotPanics(t, func() {
				err := codec.Unmarshal(c.b, c.v())
				assert.ErrorIs(t, err, codec.ErrDecode)
				err = dec.Decode(c.b, c.v())
				assert.ErrorIs(t, err, codec.ErrDecode)
			})
			// The Decoder still works after recovering.
			var a []int
			require.NoError(t, dec.Decode([]byte{0x92, 0x01, 0x02}, &a))
			assert.Equal(t, []int{1, 2}, a)
		})
	}
}

func TestDecodeBadTargets(t *testing.T) {
	var i int
	assert.ErrorIs(t, codec.Unmarshal([]byte{0x01}, nil), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal([]byte{0x01}, i), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal([]byte{0xa1, 'x'}, &i), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal([]byte{0xd4, 0x05, 0x01}, new(any)), codec.ErrDecode, "unregistered ext into any")
}

func TestMarshal(t *testing.T) {
	type tagged struct {
		Name  string `msgpack:"n"`
		Count int64
		Skip  int `msgpack:"-"`
	}
	b, err := codec.Marshal(tagged{Name: "x", Count: 300, Skip: 9})
	require.NoError(t, err)
	assert.Equal(t, cat([]byte{0x82, 0xa1, 'n', 0xa1, 'x'}, []byte{0xa5}, []byte("Count"), []byte{0xcd, 0x01, 0x2c}), b)
	var back tagged
	require.NoError(t, codec.Unmarshal(b, &back))
	assert.Equal(t, tagged{Name: "x", Count: 300}, back)

	// Integers take their smallest form whatever the Go type.
	for v, want := range map[any][]byte{int64(1): {0x01}, int32(-1): {0xff}, uint64(200): {0xcc, 0xc8}, int(-200): {0xd1, 0xff, 0x38}} {
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		assert.Equal(t, want, b, "%T %v", v, v)
	}
	var buf bytes.Buffer
	require.NoError(t, msgpack.NewEncoder(&buf).Encode(int64(5)))
	assert.Equal(t, []byte{0x05}, buf.Bytes())
}
