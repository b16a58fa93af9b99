package msgpack

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// cat joins byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// rep returns n copies of b.
func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// scanSample is one whole msgpack value of a given family.
type scanSample struct {
	name string
	b    []byte
}

// scanSamples covers every msgpack type family at each of its widths.
func scanSamples() []scanSample {
	s := []scanSample{
		{"nil", []byte{0xc0}},
		{"false", []byte{0xc2}},
		{"true", []byte{0xc3}},
		{"posfixint 0", []byte{0x00}},
		{"posfixint 127", []byte{0x7f}},
		{"negfixint -32", []byte{0xe0}},
		{"negfixint -1", []byte{0xff}},
		{"uint8", []byte{0xcc, 0xff}},
		{"uint16", []byte{0xcd, 0xff, 0xff}},
		{"uint32", []byte{0xce, 0xff, 0xff, 0xff, 0xff}},
		{"uint64", []byte{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"int8", []byte{0xd0, 0x80}},
		{"int16", []byte{0xd1, 0x80, 0x00}},
		{"int32", []byte{0xd2, 0x80, 0, 0, 0}},
		{"int64", []byte{0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0}},
		{"float32", []byte{0xca, 0x3f, 0x80, 0, 0}},
		{"float64", []byte{0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}},
		{"fixstr empty", []byte{0xa0}},
		{"fixstr 31", cat([]byte{0xbf}, rep([]byte{'s'}, 31))},
		{"str8 empty", []byte{0xd9, 0x00}},
		{"str8 255", cat([]byte{0xd9, 0xff}, rep([]byte{'s'}, 255))},
		{"str16", cat([]byte{0xda, 0x01, 0x00}, rep([]byte{'s'}, 256))},
		{"str32", cat([]byte{0xdb, 0, 0x01, 0x00, 0x00}, rep([]byte{'s'}, 65536))},
		{"bin8 empty", []byte{0xc4, 0x00}},
		{"bin8", cat([]byte{0xc4, 0x03}, []byte{0xc1, 0xdd, 0xff})},
		{"bin16", cat([]byte{0xc5, 0x01, 0x00}, rep([]byte{0xc1}, 256))},
		{"bin32", cat([]byte{0xc6, 0, 0x01, 0x00, 0x00}, rep([]byte{0xdd}, 65536))},
		{"fixext1", []byte{0xd4, 0x01, 0xc1}},
		{"fixext2", []byte{0xd5, 0x01, 0xc1, 0xc1}},
		{"fixext4", cat([]byte{0xd6, 0xff}, rep([]byte{0xdf}, 4))},
		{"fixext8", cat([]byte{0xd7, 0xff}, rep([]byte{0xdf}, 8))},
		{"fixext16", cat([]byte{0xd8, 0x7f}, rep([]byte{0xdf}, 16))},
		{"ext8 empty", []byte{0xc7, 0x00, 0x05}},
		{"ext8", cat([]byte{0xc7, 0x03, 0x05}, rep([]byte{0xc1}, 3))},
		{"ext16", cat([]byte{0xc8, 0x01, 0x00, 0x05}, rep([]byte{0xc1}, 256))},
		{"ext32", cat([]byte{0xc9, 0, 0x01, 0x00, 0x00, 0x05}, rep([]byte{0xc1}, 65536))},
		{"fixarray empty", []byte{0x90}},
		{"fixarray 15", cat([]byte{0x9f}, rep([]byte{0xc0}, 15))},
		{"array16 empty", []byte{0xdc, 0, 0}},
		{"array16", cat([]byte{0xdc, 0x00, 0x10}, rep([]byte{0x01}, 16))},
		{"array32", cat([]byte{0xdd, 0, 0x01, 0x00, 0x00}, rep([]byte{0xc3}, 65536))},
		{"fixmap empty", []byte{0x80}},
		{"fixmap 15", cat([]byte{0x8f}, rep([]byte{0x01, 0xc0}, 15))},
		{"map16 empty", []byte{0xde, 0, 0}},
		{"map16", cat([]byte{0xde, 0x00, 0x10}, rep([]byte{0xa1, 'k', 0xc2}, 16))},
		{"map32", cat([]byte{0xdf, 0, 0x01, 0x00, 0x00}, rep([]byte{0xc0, 0xc0}, 65536))},
		{"nested", cat([]byte{0x93, 0x91, 0x90, 0x81, 0xa1, 'k', 0x92, 0xd4, 1, 1, 0xc4, 1, 0xff, 0xcb}, make([]byte, 8))},
		{"empty containers inside", []byte{0x94, 0x90, 0x80, 0xdc, 0, 0, 0xde, 0, 0}},
	}
	// A value produced by msgpack's own encoder, mixing most families.
	enc, err := vmsgpack.Marshal(map[string]any{
		"a": []any{1, -1, 300, -300, 70000, -70000, 1 << 40, -1 << 40, 1.5, float32(2.5)},
		"b": []byte("bytes"), "c": strings.Repeat("x", 300), "d": nil, "e": true,
		"f": map[string]any{"g": []any{[]any{}, map[string]any{}}},
	})
	if err != nil {
		panic(err)
	}
	return append(s, scanSample{"msgpack encoder", enc})
}

func TestScannerTypeFamilies(t *testing.T) {
	for _, s := range scanSamples() {
		t.Run(s.name, func(t *testing.T) {
			// The sample really is one msgpack value.
			src := bytes.NewReader(s.b)
			require.NoError(t, vmsgpack.NewDecoder(src).Skip())
			require.Equal(t, 0, src.Len())

			sc := NewScanner(4<<20, MaxDepth)
			n, err := sc.Scan(s.b)
			require.NoError(t, err)
			assert.Equal(t, len(s.b), n)

			// Trailing bytes do not count.
			sc.Reset()
			n, err = sc.Scan(cat(s.b, []byte{0xc1, 0xdd, 0xff}))
			require.NoError(t, err)
			assert.Equal(t, len(s.b), n)

			// Every proper prefix asks for more bytes.
			for i := 0; i < len(s.b) && i < 64; i++ {
				sc := NewScanner(4<<20, MaxDepth)
				n, err := sc.Scan(s.b[:i])
				require.NoError(t, err, "prefix %d", i)
				require.Equal(t, 0, n, "prefix %d", i)
			}

			l, err := Skip(s.b)
			require.NoError(t, err)
			assert.Equal(t, len(s.b), l)
			_, err = Skip(s.b[:len(s.b)-1])
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// scanInChunks feeds b to one scanner through growing prefixes split at the
// given cut points, the way a Reader does as bytes arrive.
func scanInChunks(t *testing.T, b []byte, cuts []int) int {
	t.Helper()
	sc := NewScanner(4<<20, MaxDepth)
	for _, c := range cuts {
		n, err := sc.Scan(b[:c])
		require.NoError(t, err)
		if n > 0 {
			return n
		}
	}
	n, err := sc.Scan(b)
	require.NoError(t, err)
	return n
}

func TestScannerResumable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range scanSamples() {
		t.Run(s.name, func(t *testing.T) {
			whole := cat(s.b, []byte{0x01, 0x02})
			want := len(s.b)

			// One byte at a time: nothing before the last byte, the length at it.
			sc := NewScanner(4<<20, MaxDepth)
			for i := 1; i <= len(whole); i++ {
				n, err := sc.Scan(whole[:i])
				require.NoError(t, err)
				if i < want {
					require.Equal(t, 0, n, "after %d bytes", i)
					continue
				}
				require.Equal(t, want, n, "after %d bytes", i)
				break
			}

			// Calling again without new bytes changes nothing.
			sc = NewScanner(4<<20, MaxDepth)
			for i := 0; i < 3; i++ {
				n, err := sc.Scan(whole[:want/2])
				require.NoError(t, err)
				require.Equal(t, 0, n)
			}

			// Random splits.
			for trial := 0; trial < 20; trial++ {
				var cuts []int
				for c := 0; c < len(whole); {
					c += 1 + rng.IntN(max(1, len(whole)/4))
					cuts = append(cuts, min(c, len(whole)))
				}
				assert.Equal(t, want, scanInChunks(t, whole, cuts), "cuts %v", cuts)
			}
		})
	}
}

func TestScannerReset(t *testing.T) {
	sc := NewScanner(4<<20, MaxDepth)
	n, err := sc.Scan([]byte{0x92, 0x01})
	require.NoError(t, err)
	require.Equal(t, 0, n)
	sc.Reset()
	n, err = sc.Scan([]byte{0xc0})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestScannerDeclaredLengthsPastLimit(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"array32 of 2^32-1", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"map32 of 2^32-1", []byte{0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"bin32 of 4 GiB", []byte{0xc6, 0xff, 0xff, 0xff, 0xff}},
		{"str32 of 4 GiB", []byte{0xdb, 0xff, 0xff, 0xff, 0xff}},
		{"ext32 of 4 GiB", []byte{0xc9, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"bin32 just past 4 MiB", []byte{0xc6, 0x00, 0x40, 0x00, 0x00}},
		{"nested array32", []byte{0x91, 0x91, 0x92, 0xc0, 0xdd, 0xff, 0xff, 0xff, 0xff}},
		{"nested map32", []byte{0x81, 0xa1, 'k', 0xdf, 0xff, 0xff, 0xff, 0xff}},
		{"nested bin32", []byte{0x93, 0x01, 0x02, 0xc6, 0xff, 0xff, 0xff, 0xff}},
		{"array16 nest", rep([]byte{0xdc, 0xff, 0xff}, 2048)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Rejected from the header alone, before any payload arrives.
			sc := NewScanner(4<<20, MaxDepth)
			_, err := sc.Scan(c.b)
			if c.name == "array16 nest" {
				// 65535 items fit in 4 MiB; only the depth bound stops it.
				require.ErrorIs(t, err, ErrTooDeep)
				return
			}
			require.ErrorIs(t, err, ErrTooLarge)
		})
	}
}

func TestScannerSizeBoundary(t *testing.T) {
	maxSize, maxDepth := 100, 8
	// bin8: 2 header bytes + n payload bytes.
	ok := cat([]byte{0xc4, 98}, make([]byte, 98))
	n, err := NewScanner(maxSize, maxDepth).Scan(ok)
	require.NoError(t, err)
	assert.Equal(t, 100, n)

	_, err = NewScanner(maxSize, maxDepth).Scan([]byte{0xc4, 99})
	assert.ErrorIs(t, err, ErrTooLarge)

	// Container counts are bounded by the bytes left: each item takes one.
	_, err = NewScanner(maxSize, maxDepth).Scan([]byte{0xdc, 0x00, 97})
	require.NoError(t, err)
	_, err = NewScanner(maxSize, maxDepth).Scan([]byte{0xdc, 0x00, 98})
	assert.ErrorIs(t, err, ErrTooLarge)
	// A map of n pairs holds 2n items.
	_, err = NewScanner(maxSize, maxDepth).Scan([]byte{0xde, 0x00, 48})
	require.NoError(t, err)
	_, err = NewScanner(maxSize, maxDepth).Scan([]byte{0xde, 0x00, 49})
	assert.ErrorIs(t, err, ErrTooLarge)

	// Many small items crossing the limit.
	_, err = NewScanner(maxSize, maxDepth).Scan(cat([]byte{0xdc, 0, 97}, rep([]byte{0xcc, 1}, 60)))
	assert.ErrorIs(t, err, ErrTooLarge)
	// A header that itself crosses the limit.
	_, err = NewScanner(maxSize, maxDepth).Scan(cat([]byte{0x92, 0xc4, 95}, make([]byte, 95), []byte{0xcf}, make([]byte, 8)))
	assert.ErrorIs(t, err, ErrTooLarge)
}

func TestScannerDepth(t *testing.T) {
	maxSize, maxDepth := 1<<20, 4
	n, err := NewScanner(maxSize, maxDepth).Scan(cat(rep([]byte{0x91}, 4), []byte{0x00}))
	require.NoError(t, err)
	assert.Equal(t, 5, n)

	_, err = NewScanner(maxSize, maxDepth).Scan(cat(rep([]byte{0x91}, 5), []byte{0x00}))
	assert.ErrorIs(t, err, ErrTooDeep)
	_, err = NewScanner(maxSize, maxDepth).Scan(cat(rep([]byte{0x81, 0xc0}, 5), []byte{0x00}))
	assert.ErrorIs(t, err, ErrTooDeep)

	// An empty container opens nothing, so it does not count as a level.
	n, err = NewScanner(maxSize, maxDepth).Scan(cat(rep([]byte{0x91}, 4), []byte{0x90}))
	require.NoError(t, err)
	assert.Equal(t, 5, n)

	// Siblings do not add up: depth is per path.
	n, err = NewScanner(maxSize, maxDepth).Scan(cat([]byte{0x92}, rep([]byte{0x91}, 3), []byte{0x01}, rep([]byte{0x91}, 3), []byte{0x02}))
	require.NoError(t, err)
	assert.Equal(t, 9, n)

	// 100,000 nested arrays: rejected at the bound, the stack never grows past it.
	sc := NewScanner(4<<20, MaxDepth)
	_, err = sc.Scan(rep([]byte{0x91}, 100_000))
	require.ErrorIs(t, err, ErrTooDeep)
	assert.LessOrEqual(t, len(sc.stack), MaxDepth)
}

func TestScannerReservedByte(t *testing.T) {
	for _, b := range [][]byte{{0xc1}, {0x91, 0xc1}, {0x81, 0xc1, 0x01}, {0x92, 0x01, 0xc1}} {
		_, err := NewScanner(4<<20, MaxDepth).Scan(b)
		assert.ErrorIs(t, err, ErrMalformed, "% x", b)
		_, err = Skip(b)
		assert.ErrorIs(t, err, ErrMalformed, "% x", b)
	}
	// Inside a payload the byte is just data.
	n, err := NewScanner(4<<20, MaxDepth).Scan([]byte{0xc4, 0x01, 0xc1})
	require.NoError(t, err)
	assert.Equal(t, 3, n)
}

func TestSkipRejectsLengthsPastTheBuffer(t *testing.T) {
	for _, b := range [][]byte{
		nil,
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0xc6, 0xff, 0xff, 0xff, 0xff},
		{0xdb, 0x00, 0x00, 0x00, 0x02, 'a'},
		{0x92, 0x01},
		{0xcd, 0x01},
		{0xd8, 0x01, 0x00},
	} {
		_, err := Skip(b)
		assert.ErrorIs(t, err, ErrMalformed, "% x", b)
	}
}

func TestIsArrayHeader(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := (c >= 0x90 && c <= 0x9f) || c == 0xdc || c == 0xdd
		assert.Equal(t, want, IsArrayHeader(byte(c)), "0x%02x", c)
	}
}

func TestExtPayloads(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want []Span
	}{
		{"no extension", raw(0x92, 0xa1, 'a', 0xc4, 0x01, 0xd7), nil},
		{"fixext1", raw(0xd4, 0x30, 0x81), []Span{{2, 3}}},
		{"fixext2", raw(0xd5, 0x30, 0x81, 0x01), []Span{{2, 4}}},
		{"fixext4", cat(raw(0xd6, 0xff), rep(raw(0x81), 4)), []Span{{2, 6}}},
		{"fixext8", cat(raw(0xd7, 0xff), rep(raw(0x81), 8)), []Span{{2, 10}}},
		{"fixext16", cat(raw(0xd8, 0xff), rep(raw(0x81), 16)), []Span{{2, 18}}},
		{"ext8", raw(0xc7, 0x02, 0x30, 0x81, 0x01), []Span{{3, 5}}},
		{"ext8 empty", raw(0xc7, 0x00, 0x30), []Span{{3, 3}}},
		{"ext16", raw(0xc8, 0x00, 0x02, 0x30, 0x81, 0x01), []Span{{4, 6}}},
		{"ext32", raw(0xc9, 0, 0, 0, 0x02, 0x30, 0x81, 0x01), []Span{{6, 8}}},
		{
			"nested in containers, after a str and a bin that hold ext bytes",
			cat(raw(0x93, 0xa2, 0xd4, 0x30, 0xc4, 0x01, 0xd4, 0x81, 0xa1, 'k', 0x91), raw(0xd5, 0x01, 0x02, 0x03)),
			[]Span{{13, 15}},
		},
		{"an extension inside a payload is not reported", raw(0xc7, 0x03, 0x30, 0xd4, 0x31, 0x00, 0xd4, 0x32, 0x07), []Span{{3, 6}, {8, 9}}},
		{"a sequence of values", raw(0xd4, 0x01, 0x00, 0x01, 0xd4, 0x02, 0x00), []Span{{2, 3}, {6, 7}}},
		{"stops at a truncated payload", raw(0xd4, 0x01, 0x00, 0xd7, 0x02, 0x00), []Span{{2, 3}}},
		{"stops at a reserved byte", raw(0xc1, 0xd4, 0x01, 0x00), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, ExtPayloads(nil, c.b))
			prev := []Span{{-1, -1}}
			assert.Equal(t, append(prev, c.want...), ExtPayloads(prev, c.b), "appends to dst")
		})
	}
	big := cat(raw(0xdc, 0x10, 0x00), rep(raw(0xd4, 0x01, 0x00), 0x1000))
	assert.Len(t, ExtPayloads(nil, big), 0x1000)
}

// TestScannerItems: Items counts the elements every array and map of a
// value declares (a map's keys and values both), the same whether the
// value arrives whole or a byte at a time, and starts again with the next
// value.
func TestScannerItems(t *testing.T) {
	v := []any{int8(1), map[string]any{"a": []any{int8(1), int8(2)}, "b": map[string]any{}}, "x", []byte("yz")}
	b, err := Marshal(v)
	require.NoError(t, err)
	const want = 4 + 4 + 2     // the array, the map's two pairs, the inner array
	const wantMaps = 1 + 2 + 1 // the outer map and its two entries, the empty inner map
	sc := NewScanner(4<<20, MaxDepth)
	n, err := sc.Scan(b)
	require.NoError(t, err)
	require.Equal(t, len(b), n)
	assert.Equal(t, want, sc.Items())
	assert.Equal(t, wantMaps, sc.MapItems())

	sc.Reset()
	for i := 1; i <= len(b); i++ {
		n, err = sc.Scan(b[:i])
		require.NoError(t, err)
	}
	require.Equal(t, len(b), n)
	assert.Equal(t, want, sc.Items(), "a byte at a time")
	assert.Equal(t, wantMaps, sc.MapItems(), "a byte at a time")
	sc.Reset()
	assert.Equal(t, want, sc.Items(), "kept through Reset")
	assert.Equal(t, wantMaps, sc.MapItems(), "kept through Reset")

	n, err = sc.Scan([]byte{0x93, 0x01, 0x02, 0x03})
	require.NoError(t, err)
	require.Equal(t, 4, n)
	assert.Equal(t, 3, sc.Items(), "the next value's own")
	assert.Equal(t, 0, sc.MapItems(), "the next value's own")

	// map16 and map32 headers, and empty maps in an array.
	sc.Reset()
	n, err = sc.Scan([]byte{0x93, 0xde, 0x00, 0x01, 0xa0, 0xc0, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x80})
	require.NoError(t, err)
	require.Equal(t, 12, n)
	assert.Equal(t, 3+2, sc.Items())
	assert.Equal(t, (1+1)+1+1, sc.MapItems())

	sc.Reset()
	n, err = sc.Scan([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	require.ErrorIs(t, err, ErrTooLarge)
	assert.Equal(t, 0, n)
	assert.LessOrEqual(t, sc.Items(), 4<<20, "never more than the size bound")
}
