package wire

import (
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

func TestRequestExtRoundTrip(t *testing.T) {
	for _, e := range []RequestExt{
		{},
		{Timeout: 1},
		{Timeout: 1500 * 1e6},
		{Timeout: math.MaxInt64},
		{Metadata: map[string]string{"k": "v"}},
		{Timeout: 7, Metadata: map[string]string{"a": "", "": "b", "long": string(rep([]byte{'x'}, 60000))}},
	} {
		b := AppendRequestExt(nil, e)
		got, err := ParseRequestExt(b)
		require.NoError(t, err)
		assert.Equal(t, e.Timeout, got.Timeout)
		assert.Equal(t, e.Metadata, got.Incoming.Map())
		// msgpack's decoder sees a plain map.
		var m map[string]any
		require.NoError(t, vmsgpack.Unmarshal(b, &m))
		assert.Len(t, m, btoiTest(e.Timeout != 0)+btoiTest(len(e.Metadata) > 0))
	}
	// An empty metadata map is not sent.
	got, err := ParseRequestExt(AppendRequestExt(nil, RequestExt{Metadata: map[string]string{}}))
	require.NoError(t, err)
	assert.Nil(t, got.Incoming)
}

func TestRequestExtTimeouts(t *testing.T) {
	cases := map[string]struct {
		val  []byte
		want int64
	}{
		"negative":            {msgpack.AppendInt(nil, -5), -1},
		"min int64":           {msgpack.AppendInt(nil, math.MinInt64), -1},
		"uint64 past int64":   {msgpack.AppendUint(nil, math.MaxInt64+1), 0}, // longer than any duration: no deadline
		"uint64 max":          {msgpack.AppendUint(nil, math.MaxUint64), 0},
		"int8 positive form":  {raw(0xd0, 0x05), 5},
		"uint16 form":         {raw(0xcd, 0x00, 0x06), 6},
		"zero means no limit": {raw(0x00), 0},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := cat(msgpack.AppendMapHeader(nil, 1), mpStr("t"), c.val)
			e, err := ParseRequestExt(b)
			require.NoError(t, err)
			assert.Equal(t, c.want, e.Timeout)
		})
	}
}

func TestExtUnknownKeysIgnored(t *testing.T) {
	b := msgpack.AppendMapHeader(nil, 6)
	b = append(msgpack.AppendString(b, "x"), 0x93, 0x01, 0x81, 0xa1, 'y', 0xc0, 0xc4, 0x00)
	b = msgpack.AppendInt(msgpack.AppendString(b, "t"), 42)
	b = append(msgpack.AppendString(b, "zz"), 0xc0)
	b = msgpack.AppendStringMap(msgpack.AppendString(b, "m"), map[string]string{"k": "v"})
	b = append(msgpack.AppendString(b, "future"), 0xd6, 0x05, 1, 2, 3, 4)
	b = append(b, 0xc4, 0x01, 'q', 0xc3) // a bin key is accepted like a str key
	e, err := ParseRequestExt(b)
	require.NoError(t, err)
	assert.Equal(t, int64(42), e.Timeout)
	assert.Equal(t, map[string]string{"k": "v"}, e.Incoming.Map())

	r, err := ParseResponseExt(b) // none of the response keys
	require.NoError(t, err)
	assert.Equal(t, ResponseExt{}, r)
}

func TestResponseExtRoundTrip(t *testing.T) {
	for _, e := range []ResponseExt{
		{},
		{Code: 3},
		{Code: math.MaxUint32},
		{Code: 14, NotExecuted: true},
		{Code: 5, Details: map[string]string{"field": "name"}},
		{Code: 8, Details: map[string]string{"a": "b"}, NotExecuted: true},
	} {
		got, err := ParseResponseExt(AppendResponseExt(nil, e))
		require.NoError(t, err)
		assert.Equal(t, e, got)
	}
	// A code wider than uint32 saturates; NotExecuted is only a literal true.
	b := cat(msgpack.AppendMapHeader(nil, 2), mpStr("c"), msgpack.AppendUint(nil, math.MaxUint64), mpStr("n"), mpUint(1))
	e, err := ParseResponseExt(b)
	require.NoError(t, err)
	assert.Equal(t, ResponseExt{Code: math.MaxUint32}, e)
	b = cat(msgpack.AppendMapHeader(nil, 1), mpStr("n"), raw(0xc2))
	e, err = ParseResponseExt(b)
	require.NoError(t, err)
	assert.False(t, e.NotExecuted)
}

func TestExtNilAndEmpty(t *testing.T) {
	for _, b := range [][]byte{raw(0xc0), raw(0x80), raw(0xde, 0, 0), raw(0xdf, 0, 0, 0, 0)} {
		r, err := ParseRequestExt(b)
		require.NoError(t, err, "% x", b)
		assert.Equal(t, RequestExt{}, r)
		s, err := ParseResponseExt(b)
		require.NoError(t, err, "% x", b)
		assert.Equal(t, ResponseExt{}, s)
	}
	// map16 and map32 headers with entries.
	b := cat(raw(0xde, 0x00, 0x01), mpStr("t"), mpUint(9))
	r, err := ParseRequestExt(b)
	require.NoError(t, err)
	assert.Equal(t, int64(9), r.Timeout)
	b = cat(raw(0xdf, 0, 0, 0, 0x01), mpStr("c"), mpUint(9))
	s, err := ParseResponseExt(b)
	require.NoError(t, err)
	assert.Equal(t, uint32(9), s.Code)
}

func TestExtRejects(t *testing.T) {
	req := map[string][]byte{
		"not a map":           raw(0x01),
		"array":               raw(0x91, 0x01),
		"empty":               nil,
		"int key":             cat(raw(0x81), mpUint(1), mpUint(2)),
		"nil key":             raw(0x81, 0xc0, 0x01),
		"timeout not int":     cat(raw(0x81), mpStr("t"), mpStr("5")),
		"timeout float":       cat(raw(0x81), mpStr("t"), f64(5)),
		"metadata not map":    cat(raw(0x81), mpStr("m"), mpStr("x")),
		"metadata int value":  cat(raw(0x81), mpStr("m"), raw(0x81), mpStr("k"), mpUint(1)),
		"metadata int key":    cat(raw(0x81), mpStr("m"), raw(0x81), mpUint(1), mpStr("v")),
		"fewer pairs":         cat(raw(0x82), mpStr("t"), mpUint(1)),
		"map32 bomb":          raw(0xdf, 0xff, 0xff, 0xff, 0xff),
		"truncated value":     cat(raw(0x81), mpStr("t"), raw(0xcd, 0x01)),
		"reserved byte value": cat(raw(0x81), mpStr("x"), raw(0xc1)),
		// msgpack's map decoding would skip these extension headers and
		// read the payloads as maps; ours never looks inside a payload.
		"extension as the map":           cat(raw(0xd7, 0x30), extBombPayload),
		"timeout as an extension":        cat(raw(0x81), mpStr("t"), raw(0xd4, 0x30, 0x05)),
		"metadata as an extension":       cat(raw(0x81), mpStr("m"), raw(0xd7, 0x30), extBombPayload),
		"metadata value as an extension": cat(raw(0x81), mpStr("m"), raw(0x81), mpStr("k"), raw(0xd5, 0x30, 0xa1, 'v')),
		"extension as a key":             cat(raw(0x81, 0xd4, 0x30, 0xa1), mpUint(1)),
	}
	for name, b := range req {
		t.Run("request "+name, func(t *testing.T) {
			_, err := ParseRequestExt(b)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
	resp := map[string][]byte{
		"code negative":           cat(raw(0x81), mpStr("c"), msgpack.AppendInt(nil, -1)),
		"code string":             cat(raw(0x81), mpStr("c"), mpStr("3")),
		"details not a map":       cat(raw(0x81), mpStr("d"), mpUint(1)),
		"details nil value":       cat(raw(0x81), mpStr("d"), raw(0x81), mpStr("k"), raw(0xc0)),
		"extension as the map":    cat(raw(0xd7, 0x30), extBombPayload),
		"code as an extension":    cat(raw(0x81), mpStr("c"), raw(0xd4, 0x30, 0x05)),
		"details as an extension": cat(raw(0x81), mpStr("d"), raw(0xc7, 0x08, 0x30), extBombPayload),
	}
	for name, b := range resp {
		t.Run("response "+name, func(t *testing.T) {
			_, err := ParseResponseExt(b)
			assert.ErrorIs(t, err, ErrMalformed)
		})
	}
}

// extBombPayload is eight payload bytes that msgpack's map decoding reads
// as {"A": array32 of 2^32-1}.
var extBombPayload = raw(0x81, 0xa1, 'A', 0xdd, 0xff, 0xff, 0xff, 0xff)

// TestExtMapIgnoresExtensionPayloads: an unknown key may carry an
// extension value (skipped whole), and parsing allocates nothing in
// proportion to what a payload declares.
func TestExtMapIgnoresExtensionPayloads(t *testing.T) {
	b := cat(raw(0x82), mpStr("x"), raw(0xd7, 0x30), extBombPayload, mpStr("t"), mpUint(7))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := ParseRequestExt(b)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, RequestExt{Timeout: 7}, r)
	// TotalAlloc is process-wide (other goroutines allocate too); the
	// payload declares 2^32-1 elements, so 64 KiB still tells.
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10))
}

func btoiTest(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestReadStringMap(t *testing.T) {
	in := map[string]string{"k": "v", "": "", "long": strings.Repeat("z", 300)}
	got, err := readStringMap(msgpack.AppendStringMap(nil, in))
	require.NoError(t, err)
	assert.Equal(t, in, got)

	// An error's details are bounded as metadata is.
	many := make(map[string]string, 1025)
	for i := range 1025 {
		many[strings.Repeat("k", i)] = ""
	}
	_, err = readStringMap(msgpack.AppendStringMap(nil, many))
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = readStringMap(msgpack.AppendStringMap(nil, map[string]string{"k": strings.Repeat("v", 64<<10)}))
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = readStringMap(msgpack.AppendStringMap(nil, map[string]string{"k": strings.Repeat("v", 60<<10)}))
	assert.NoError(t, err)

	// A response whose details pass the bounds keeps its code and flag;
	// the details are dropped.
	b := AppendResponseExt(nil, ResponseExt{Code: 10, Details: many, NotExecuted: true})
	e, err := ParseResponseExt(b)
	require.NoError(t, err)
	assert.Equal(t, ResponseExt{Code: 10, NotExecuted: true}, e)
}

// TestEnvelopesDecodeWithMsgpack checks whole envelopes built with Append*
// against msgpack's own decoder.
func TestEnvelopesDecodeWithMsgpack(t *testing.T) {
	b := msgpack.AppendArrayHeader(nil, 5)
	b = msgpack.AppendUint(b, TypeRequest)
	b = msgpack.AppendUint(b, math.MaxUint32)
	b = msgpack.AppendString(b, "Arith.Add")
	b = append(msgpack.AppendArrayHeader(b, 1), msgpack.AppendMapHeader(nil, 0)...)
	b = AppendRequestExt(b, RequestExt{Timeout: 1500, Metadata: map[string]string{"k": "v"}})
	var got []any
	require.NoError(t, vmsgpack.Unmarshal(b, &got))
	require.Len(t, got, 5)
	assert.EqualValues(t, 0, got[0])
	assert.EqualValues(t, uint32(math.MaxUint32), got[1])
	assert.Equal(t, "Arith.Add", got[2])
	assert.Equal(t, map[string]any{"t": uint16(1500), "m": map[string]any{"k": "v"}}, got[4])

	m, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, uint32(math.MaxUint32), m.ID)
}
