package meta

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseAndRead(t *testing.T) {
	want := map[string]string{"traceparent": "00-ab-cd-01", "a": "", "": "b", "long": string(make([]byte, 60000))}
	b := msgpack.AppendStringMap(nil, want)
	in, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, 4, in.Len())
	for k := range b {
		b[k] = 0 // Parse keeps a copy
	}
	for k, v := range want {
		got, ok := in.Get(k)
		assert.True(t, ok, k)
		assert.Equal(t, v, got, k)
	}
	_, ok := in.Get("missing")
	assert.False(t, ok)
	assert.Equal(t, want, in.Map())
	// After Map, Get reads the map.
	got, ok := in.Get("traceparent")
	assert.True(t, ok)
	assert.Equal(t, "00-ab-cd-01", got)
}

func TestParseEmpty(t *testing.T) {
	for _, b := range [][]byte{{0xc0}, {0x80}, {0xde, 0, 0}} {
		in, err := Parse(b)
		require.NoError(t, err)
		assert.Nil(t, in)
		assert.Zero(t, in.Len())
		assert.Nil(t, in.Map())
		_, ok := in.Get("k")
		assert.False(t, ok)
	}
}

// Bin values and keys are read as strings, as every Ferry map of strings
// is; a repeated key ends with its last value, from Get as from Map.
func TestParseBinAndRepeats(t *testing.T) {
	b := msgpack.AppendMapHeader(nil, 3)
	b = msgpack.AppendString(b, "k")
	b = append(b, 0xc4, 1, 'x') // bin 8
	b = msgpack.AppendString(b, "j")
	b = msgpack.AppendString(b, "y")
	b = msgpack.AppendString(b, "k")
	b = msgpack.AppendString(b, "z")
	in, err := Parse(b)
	require.NoError(t, err)
	v, ok := in.Get("k")
	assert.True(t, ok)
	assert.Equal(t, "z", v)
	assert.Equal(t, map[string]string{"k": "z", "j": "y"}, in.Map())
}

func TestParseRefuses(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":                   nil,
		"array":                   {0x91, 0xa1, 'a'},
		"int value":               {0x81, 0xa1, 'k', 0x01},
		"int key":                 {0x81, 0x01, 0xa1, 'v'},
		"cut value":               {0x81, 0xa1, 'k', 0xa3, 'v'},
		"missing value":           {0x81, 0xa1, 'k'},
		"map16 of 1000, no pairs": {0xde, 0x03, 0xe8},
		"nested map value":        {0x81, 0xa1, 'k', 0x80},
	} {
		in, err := Parse(b)
		assert.ErrorIs(t, err, ErrNotStringMap, name)
		assert.Nil(t, in, name)
	}
}

// Metadata past MaxPairs or MaxBytes is refused before it is copied; at
// the limits it is taken.
func TestParseLimits(t *testing.T) {
	pairs := func(n, valueLen int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m[fmt.Sprint(i)] = strings.Repeat("v", valueLen)
		}
		return m
	}
	in, err := Parse(msgpack.AppendStringMap(nil, pairs(MaxPairs, 1)))
	require.NoError(t, err)
	assert.Equal(t, MaxPairs, in.Len())
	_, err = Parse(msgpack.AppendStringMap(nil, pairs(MaxPairs+1, 1)))
	assert.ErrorIs(t, err, ErrTooMuch)
	// A header that claims more than MaxPairs is refused at once.
	_, err = Parse([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	assert.ErrorIs(t, err, ErrTooMuch)

	one := func(valueLen int) []byte {
		return msgpack.AppendStringMap(nil, map[string]string{"k": strings.Repeat("v", valueLen)})
	}
	const overhead = 1 + 2 + 3 // map header, "k", a str16 header
	in, err = Parse(one(MaxBytes - overhead))
	require.NoError(t, err)
	assert.Equal(t, 1, in.Len())
	_, err = Parse(one(MaxBytes - overhead + 1))
	assert.ErrorIs(t, err, ErrTooMuch)
}

// Parse allocates only its copy: a huge declared count costs nothing.
func TestParseAllocations(t *testing.T) {
	b := msgpack.AppendStringMap(nil, map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(b); err != nil {
			t.Fatal(err)
		}
	})
	assert.LessOrEqual(t, allocs, 2.0)
	in, err := Parse(b)
	require.NoError(t, err)
	allocs = testing.AllocsPerRun(100, func() {
		if _, ok := in.Get("traceparent"); !ok {
			t.Fatal("no traceparent")
		}
	})
	assert.Zero(t, allocs, "Get returns part of the copy")
	hostile := []byte{0xde, 0x03, 0xe8, 0xa1, 'k', 0xa1, 'v'} // 1000 pairs declared, 1 sent
	allocs = testing.AllocsPerRun(100, func() { _, _ = Parse(hostile) })
	assert.Zero(t, allocs)
}

// Get and Map from many goroutines at once agree (run with -race).
func TestConcurrentReads(t *testing.T) {
	in, err := Parse(msgpack.AppendStringMap(nil, map[string]string{"a": "1", "b": "2"}))
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				assert.Equal(t, map[string]string{"a": "1", "b": "2"}, in.Map())
			}
			v, ok := in.Get("b")
			assert.True(t, ok)
			assert.Equal(t, "2", v)
		}()
	}
	wg.Wait()
}

// FuzzParse checks that whatever Parse accepts reads back the same way
// through Get and Map, and that it never panics.
func FuzzParse(f *testing.F) {
	f.Add(msgpack.AppendStringMap(nil, map[string]string{"traceparent": "00-ab-cd-01", "k": ""}))
	f.Add([]byte{0xc0})
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'k', 0xa1, 'v'})
	f.Add([]byte{0x82, 0xa1, 'k', 0xc4, 1, 'x', 0xa1, 'k', 0xa0})
	// At the pair limit and one past it (empty keys and values, about
	// 2 KiB), keys and values in str 8, str 16 and str 32, a map followed
	// by more bytes, a pair cut short.
	pairs := func(n int) []byte {
		b := msgpack.AppendMapHeader(nil, n)
		for range n {
			b = append(b, 0xa0, 0xa0)
		}
		return b
	}
	f.Add(pairs(MaxPairs))
	f.Add(pairs(MaxPairs + 1))
	f.Add([]byte{0x82, 0xd9, 0x01, 'k', 0xda, 0x00, 0x01, 'v', 0xdb, 0, 0, 0, 1, 'x', 0xa0, 0xc0, 0x81})
	f.Add([]byte{0x81, 0xa1, 'k', 0xda, 0x00, 0x05, 'v'})
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := Parse(b)
		if err != nil || in == nil {
			return
		}
		require.LessOrEqual(t, in.Len(), MaxPairs)
		require.LessOrEqual(t, len(in.raw), MaxBytes)
		got := map[string]string{}
		_, _, err = scan(in.bytes(), func(k, _ span) bool {
			key := in.raw[k.start:k.end]
			v, ok := in.Get(key)
			require.True(t, ok)
			got[key] = v
			return true
		})
		require.NoError(t, err)
		require.Equal(t, got, in.Map())
	})
}
