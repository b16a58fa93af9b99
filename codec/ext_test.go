package codec_test

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// extHolder has every field kind msgpack decodes an extension into
// differently.
type extHolder struct {
	M  map[string]any `msgpack:"m"`
	MA map[any]any
	MM map[string]map[string]any
	S  []any
	SM []map[string]any
	A  any
	T  time.Time
	R  codec.Raw
}

// extTargets are fresh decoding targets: the containers that hold
// anything, and map types, which msgpack v5.4.1 misreads an extension as.
var extTargets = []func() any{
	func() any { return new(any) },
	func() any { return new([]any) },
	func() any { return new(map[string]any) },
	func() any { return new(map[any]any) },
	func() any { return new([]map[string]any) },
	func() any { return new([]map[any]any) },
	func() any { return new(map[string]map[string]any) },
	func() any { return new(extHolder) },
	// Types with a fast plan (fast.go), which reads no extension at all.
	func() any { return new(map[string]map[string]int) },
	func() any { return new([]map[string]string) },
}

// payload8 is an extension payload that msgpack's map decoding reads as
// {"A": array32 of n}: eight bytes that declare n elements.
func payload8(n uint32) []byte {
	return []byte{0x81, 0xa1, 'A', 0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
}

// extBomb is an input whose extension value msgpack's map decoding
// (DecodeMapLen) would parse as msgpack, and a target that would take it
// there.
type extBomb struct {
	name string
	b    []byte
	into func() any
	full bool // declares 2^32-1 elements (or the count): run last
}

func extBombs() []extBomb {
	const n24 = 1 << 24 // 256 MiB of []any if msgpack sees it
	mapStr := func() any { return new(map[string]any) }
	sliceMap := func() any { return new([]map[string]any) }
	return []extBomb{
		{name: "fixext8", b: cat([]byte{0xd7, 0x30}, payload8(n24)), into: mapStr},
		{name: "fixext16", b: cat([]byte{0xd8, 0x30}, payload8(n24), rep([]byte{0xc0}, 8)), into: mapStr},
		{name: "ext8", b: cat([]byte{0xc7, 0x08, 0x30}, payload8(n24)), into: mapStr},
		{name: "ext16", b: cat([]byte{0xc8, 0x00, 0x08, 0x30}, payload8(n24)), into: mapStr},
		{name: "ext32", b: cat([]byte{0xc9, 0x00, 0x00, 0x00, 0x08, 0x30}, payload8(n24)), into: mapStr},
		{name: "time ext (-1), a valid 8-byte time", b: cat([]byte{0xd7, 0xff}, payload8(n24)), into: mapStr},
		{name: "ext type -128 (interned strings)", b: cat([]byte{0xd7, 0x80}, payload8(n24)), into: mapStr},
		// Short payloads: the declared length runs on into the values that
		// follow the extension, which validation saw as something else.
		{name: "fixext4, then four fixints", b: cat([]byte{0x95, 0xd6, 0x30, 0x81, 0xa1, 'A', 0xdd}, rep([]byte{0x01}, 4)), into: sliceMap},
		{name: "fixext2, map16 of 65535", b: []byte{0x92, 0xd5, 0x30, 0xde, 0xff, 0xff}, into: sliceMap},
		{name: "fixext1, map32 of 2^20", b: []byte{0x95, 0xd4, 0x30, 0xdf, 0x00, 0x10, 0x00, 0x00}, into: sliceMap},
		{
			name: "nested: {m: fixext16 {A: {B: array32}}}",
			b:    cat([]byte{0x81, 0xa1, 'm', 0xd8, 0x30, 0x81, 0xa1, 'A', 0x81, 0xa1, 'B', 0xdd, 0x01, 0, 0, 0}, rep([]byte{0xc0}, 5)),
			into: func() any { return new(extHolder) },
		},
		{
			name: "an extension inside an extension",
			b:    cat([]byte{0xc7, 0x0a, 0x30, 0xd7, 0x30}, payload8(n24)),
			into: mapStr,
		},
		{name: "issue input: array32 of 0x30008530", b: []byte{0xd7, 0x30, 0x8d, 0x30, 0xdd, 0x30, 0x00, 0x85, 0x30, 0x85},
			into: func() any { return new(map[any]any) }, full: true},
		{name: "fixext8, array32 of 2^32-1", b: cat([]byte{0xd7, 0x30}, payload8(1<<32-1)), into: mapStr, full: true},
		// msgpack makes a map[string]any with the declared size, uncapped.
		{name: "fixext1, map32 of 2^32-1", b: []byte{0x95, 0xd4, 0x30, 0xdf, 0xff, 0xff, 0xff, 0xff}, into: sliceMap, full: true},
	}
}

// TestExtPayloadNeverParsed decodes each input into every target: none
// may allocate more than a few KiB, and the target msgpack would misread
// it into gets a clear error. The inputs that declare 2^32-1 elements run
// only when the smaller ones (2^24 elements, 2^20 map entries) passed, so a regression fails instead
// of exhausting the machine's memory.
func TestExtPayloadNeverParsed(t *testing.T) {
	const limit = 64 << 10
	ok := true
	for _, c := range extBombs() {
		if c.full && !ok {
			t.Logf("%s: skipped, a smaller input already allocated too much", c.name)
			continue
		}
		ok = t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			errs := make([]error, len(extTargets))
			for i, newTarget := range extTargets {
				errs[i] = codec.Unmarshal(c.b, newTarget())
			}
			err := codec.Unmarshal(c.b, c.into())
			runtime.ReadMemStats(&after)

			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes decoded into %d targets: %d bytes allocated", len(c.b), len(extTargets)+1, alloc)
			assert.Less(t, alloc, uint64(limit))
			require.ErrorIs(t, err, codec.ErrDecode)
			assert.ErrorContains(t, err, "cannot decode it as msgpack")
			for i, err := range errs {
				if err != nil {
					assert.ErrorIs(t, err, codec.ErrDecode, "%T", extTargets[i]())
				}
			}
		}) && ok
	}
}

func TestExtPayloadRefusedWithClearError(t *testing.T) {
	var m map[string]any
	err := codec.Unmarshal(cat([]byte{0xd7, 0x30}, payload8(5)), &m)
	require.ErrorIs(t, err, codec.ErrDecode)
	assert.EqualError(t, err, "ferry: cannot decode msgpack: extension type 48, payload at byte 2: cannot decode it as msgpack")
	assert.Nil(t, m)
}

// TestEmptyExtFollowedByMapRefused: an empty extension has no payload to
// guard, and msgpack's map decoding would take the map after it as its
// content; every other neighbour is fine, and a Raw keeps it all.
func TestEmptyExtFollowedByMapRefused(t *testing.T) {
	for _, next := range [][]byte{{0x80}, {0x81, 0x01, 0x02}, {0xde, 0x00, 0x00}, {0xdf, 0, 0, 0, 0}, {0xc0}} {
		b := cat([]byte{0x92, 0xc7, 0x00, 0x30}, next)
		var s []map[string]any
		err := codec.Unmarshal(b, &s)
		require.ErrorIs(t, err, codec.ErrDecode, "% x", b)
		assert.ErrorContains(t, err, "empty extension value followed by a map or nil: type 48, payload at byte 4")
		var raws []codec.Raw
		assert.Error(t, codec.Unmarshal(b, &raws), "% x", b)
		var r codec.Raw
		require.NoError(t, codec.Unmarshal(b, &r), "% x", b)
		assert.Equal(t, codec.Raw(b), r)
	}
	b := []byte{0x92, 0xc7, 0x00, 0x30, 0x01}
	var raws []codec.Raw
	require.NoError(t, codec.Unmarshal(b, &raws))
	assert.Equal(t, []codec.Raw{{0xc7, 0x00, 0x30}, {0x01}}, raws)
}

// point is an extension type registered the usual way (vmsgpack.RegisterExt):
// its decoder takes the payload as bytes.
type point struct{ X, Y int8 }

func (p *point) MarshalMsgpack() ([]byte, error) { return []byte{byte(p.X), byte(p.Y)}, nil }

func (p *point) UnmarshalMsgpack(b []byte) error {
	if len(b) != 2 {
		return fmt.Errorf("point: %d bytes", len(b))
	}
	p.X, p.Y = int8(b[0]), int8(b[1])
	return nil
}

const pointExt = 42

// TestExtValuesStillDecode: extension values whose decoders read the
// payload as bytes decode wherever they did, even when the payload starts
// with bytes that look like a map.
func TestExtValuesStillDecode(t *testing.T) {
	vmsgpack.RegisterExt(pointExt, (*point)(nil))
	t.Cleanup(func() { vmsgpack.UnregisterExt(pointExt) })

	// 8-byte time form whose first payload byte is 0x8d, a fixmap header.
	tm := time.Unix(1_700_000_000, 0x8d<<22).UTC()
	tb, err := codec.Marshal(tm)
	require.NoError(t, err)
	require.Equal(t, []byte{0xd7, 0xff, 0x8d}, tb[:3])
	old := time.Unix(-1, 5).UTC() // 12-byte form
	pt := &point{X: -127, Y: 1}   // payload 0x81 0x01: a fixmap header
	pb, err := codec.Marshal(pt)
	require.NoError(t, err)
	require.Equal(t, []byte{0xd5, pointExt, 0x81, 0x01}, pb)

	var gotT time.Time
	require.NoError(t, codec.Unmarshal(tb, &gotT))
	assert.True(t, tm.Equal(gotT))
	var gotP point
	require.NoError(t, codec.Unmarshal(pb, &gotP))
	assert.Equal(t, *pt, gotP)

	type holder struct {
		T  time.Time
		PT *time.Time
		P  *point
		A  []any
		M  map[string]any
		R  codec.Raw
	}
	in := holder{T: tm, PT: &old, P: pt, A: []any{tm, pt}, M: map[string]any{"t": tm, "p": pt}, R: tb}
	b, err := codec.Marshal(in)
	require.NoError(t, err)
	var out holder
	require.NoError(t, codec.Unmarshal(b, &out))
	assert.True(t, tm.Equal(out.T))
	assert.True(t, old.Equal(*out.PT))
	assert.Equal(t, pt, out.P)
	require.Len(t, out.A, 2)
	assert.True(t, tm.Equal(out.A[0].(time.Time)))
	assert.Equal(t, pt, out.A[1])
	assert.True(t, tm.Equal(out.M["t"].(time.Time)))
	assert.Equal(t, pt, out.M["p"])
	assert.Equal(t, codec.Raw(tb), out.R)

	var a any
	require.NoError(t, codec.Unmarshal(b, &a))
	assert.True(t, tm.Equal(a.(map[string]any)["T"].(time.Time)))
}

// msgPayload's decoder parses its payload as msgpack, which the Decoder
// does not allow: nobody validated those bytes.
type msgPayload struct{ S string }

// TestExtDecoderParsingItsPayloadRefused documents the one registration
// style that no longer decodes.
func TestExtDecoderParsingItsPayloadRefused(t *testing.T) {
	const id = 43
	vmsgpack.RegisterExtDecoder(id, msgPayload{}, func(d *vmsgpack.Decoder, v reflect.Value, _ int) error {
		s, err := d.DecodeString()
		v.Set(reflect.ValueOf(msgPayload{S: s}))
		return err
	})
	t.Cleanup(func() { vmsgpack.UnregisterExt(id) })
	var v any
	err := codec.Unmarshal([]byte{0xd5, id, 0xa1, 'x'}, &v)
	require.ErrorIs(t, err, codec.ErrDecode)
	assert.ErrorContains(t, err, "extension type 43, payload at byte 2: cannot decode it as msgpack")
}

// TestDecoderReuseAcrossExtensions: a long-lived Decoder guards each input
// on its own, whatever it decoded before.
func TestDecoderReuseAcrossExtensions(t *testing.T) {
	dec := msgpack.NewDecoder()
	bomb := cat([]byte{0xd7, 0x30}, payload8(1<<24))
	times := cat([]byte{0xdc, 0x01, 0x00}, rep([]byte{0xd6, 0xff, 0, 0, 0, 1}, 256))
	plain := []byte{0x81, 0xa1, 'A', 0x91, 0x01}
	for range 2 {
		var m map[string]any
		require.ErrorContains(t, dec.Decode(bomb, &m), "cannot decode it as msgpack")
		require.NoError(t, dec.Decode(plain, &m))
		assert.Equal(t, map[string]any{"A": []any{int64(1)}}, m)
		var s []any
		require.NoError(t, dec.Decode(times, &s))
		require.Len(t, s, 256)
		assert.True(t, time.Unix(1, 0).Equal(s[255].(time.Time)))
	}
}
