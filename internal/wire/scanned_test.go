package wire

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// echoParams is a params array like the comparison suite's: one map of
// sixteen strings and a few numbers, about 600 bytes.
func echoParams() []byte {
	b := msgpack.AppendArrayHeader(nil, 1)
	b = append(b, 0xde, 0x00, 20) // map16 of 20 pairs
	for i := range 16 {
		b = msgpack.AppendString(b, fmt.Sprintf("field%02d", i))
		b = msgpack.AppendString(b, fmt.Sprintf("a value of some length, number %02d", i))
	}
	for i := range 4 {
		b = msgpack.AppendString(b, fmt.Sprintf("num%d", i))
		b = msgpack.AppendUint(b, uint64(1)<<(8*i))
	}
	return b
}

// elementsOf frames b with a Reader and returns the message and where the
// Reader says its elements begin.
func elementsOf(t *testing.T, b []byte) ([]byte, []int32) {
	t.Helper()
	r := NewReader(bytes.NewReader(b), DefaultLimits)
	m, err := r.Next()
	require.NoError(t, err)
	return m, append([]int32(nil), r.Elements()...)
}

// TestReaderElements checks that the Reader reports where every element
// of a message begins, the same places a walk with Skip finds.
func TestReaderElements(t *testing.T) {
	ext := AppendRequestExt(nil, RequestExt{Timeout: 1e9, Metadata: map[string]string{"k": "v"}})
	for _, msg := range [][]byte{
		msgReq, msgNotify, msgResp,
		envelope(mpUint(0), mpUint(70000), mpStr("Bench.Echo"), echoParams(), ext),
		envelope(mpUint(1), mpUint(7), raw(0xc0), echoParams()[1:]),
	} {
		m, at := elementsOf(t, msg)
		n, off, ok := msgpack.ArrayLen(m)
		require.True(t, ok)
		var want []int32
		for range n {
			want = append(want, int32(off))
			l, err := msgpack.Skip(m[off:])
			require.NoError(t, err)
			off += l
		}
		assert.Equal(t, want, at)
	}
}

// TestParseScanned checks that ParseScanned cuts a message where the
// Reader found its elements, agrees with Parse, and walks the message like
// Parse when the offsets do not fit it.
func TestParseScanned(t *testing.T) {
	ext := AppendRequestExt(nil, RequestExt{Timeout: 1e9})
	req := envelope(mpUint(0), mpUint(9), mpStr("Bench.Echo"), echoParams(), ext)
	m, at := elementsOf(t, req)
	got, err := ParseScanned(m, at)
	require.NoError(t, err)
	want, err := Parse(m)
	require.NoError(t, err)
	assert.Equal(t, want, got)
	assert.Equal(t, echoParams(), got.Params)
	assert.Equal(t, ext, got.Ext)

	for _, bad := range [][]int32{nil, {}, at[:3], {0, 1, 2, 3, 4}, {at[0], at[1], at[3], at[2], at[4]}, {at[0], at[1], at[2], at[3], int32(len(m))}} {
		got, err := ParseScanned(m, bad)
		require.NoError(t, err, "%v", bad)
		assert.Equal(t, want, got, "%v", bad)
	}
}

// BenchmarkParse parses a request like the comparison suite's echo (about
// 600 bytes of params, extensions after them), walking it (Parse) and cut
// where the Reader found its elements (ParseScanned).
func BenchmarkParse(b *testing.B) {
	ext := AppendRequestExt(nil, RequestExt{Timeout: 1e9})
	req := envelope(mpUint(0), mpUint(9), mpStr("Bench.Echo"), echoParams(), ext)
	r := NewReader(bytes.NewReader(req), DefaultLimits)
	m, err := r.Next()
	require.NoError(b, err)
	at := append([]int32(nil), r.Elements()...)
	b.Run("walk", func(b *testing.B) {
		for b.Loop() {
			if _, err := Parse(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scanned", func(b *testing.B) {
		for b.Loop() {
			if _, err := ParseScanned(m, at); err != nil {
				b.Fatal(err)
			}
		}
	})
}
