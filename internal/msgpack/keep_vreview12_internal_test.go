package msgpack

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview12RefusedValueKeepsNothing: a value the slow path refuses
// before the library decodes it (an empty extension payload followed by a
// map's header, which extSpans refuses) leaves the Decoder holding neither
// the value's bytes nor its extension spans, as a decoded one does: a
// peer's 4 MiB argument of 3-byte extension values refused so kept 4 MiB
// of input and 22 MiB of spans in each call stream's Decoder, charged to
// nothing.
func TestVreview12RefusedValueKeepsNothing(t *testing.T) {
	const n = 100_000 // fixext1 values: 300 KB of input, 1.6 MB of spans
	b := binary.BigEndian.AppendUint32([]byte{0xdd}, n+2)
	for range n {
		b = append(b, 0xd4, 1, 0)
	}
	b = append(b, 0xc7, 0, 1, 0x80) // an empty payload, then a map: refused
	_, err := Validate(b)
	require.NoError(t, err, "a valid value")
	d := NewDecoder()
	var v any
	require.ErrorIs(t, d.Decode(b, &v), ErrDecode)
	assert.Zero(t, cap(d.r.b), "the value's bytes")
	assert.LessOrEqual(t, cap(d.r.ext), maxKeptSpans, "the extension spans")

	// And it still decodes the next value.
	var m map[string]any
	require.NoError(t, d.Decode([]byte{0x81, 0xa1, 'k', 0x92, 1, 0xa1, 'x'}, &m))
	assert.Equal(t, map[string]any{"k": []any{int64(1), "x"}}, m)
}

// TestVreview12EditsKeepNothing: the edits the slow path's check makes
// for the library (a float where an integer field is, rewritten) are not
// kept past the value once there are many: one edit per element of a
// large array kept 40 bytes each, and its replacement, in every call
// stream's Decoder.
func TestVreview12EditsKeepNothing(t *testing.T) {
	type args struct {
		A any   `msgpack:"a"`
		B []int `msgpack:"b"`
	}
	const n = 10_000
	b := append([]byte{0x82, 0xa1, 'a', 0xc0, 0xa1, 'b', 0xdc}, byte(n>>8), byte(n&0xff))
	for range n {
		b = append(b, 0xca, 0x3f, 0x80, 0, 0) // float32 1.0
	}
	d := NewDecoder()
	var v args
	require.NoError(t, d.Decode(b, &v))
	require.Len(t, v.B, n)
	assert.Equal(t, 1, v.B[n-1])
	assert.LessOrEqual(t, cap(d.fast.edits), maxKeptSpans, "the edits")
	assert.Zero(t, cap(d.r.b), "the value's bytes")
}
