package codec_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/require"
)

// fuzzTarget has a field of most kinds msgpack decodes differently.
type fuzzTarget struct {
	I   int64
	U   uint32
	F   float64
	S   string
	B   []byte
	L   []string
	M   map[string]int
	MA  map[any]any
	T   time.Time
	PT  *time.Time
	P   *fuzzTarget
	R   codec.Raw
	A   any
	Arr [2]int8
	OK  bool
	If  fmt.Stringer
}

var (
	sharedMu  sync.Mutex
	sharedDec = msgpack.NewDecoder()
)

// FuzzUnmarshal decodes arbitrary bytes into a struct, into any, into Raw
// and into a few containers. Nothing may panic; every error wraps
// ErrDecode; a value that validates passes through Raw unchanged; a value
// decoded into any re-encodes and decodes again; a long-lived Decoder
// agrees with a fresh one.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte{0x81, 0xa1, 'T', 0xc0})
	f.Add([]byte{0x81, 0x91, 0x01, 0x02})
	f.Add([]byte{0x82, 0x01, 0xa1, 'a', 0xcd, 0x01, 0x00, 0xc3})
	f.Add([]byte{0x83, 0xa1, 'P', 0x81, 0xa1, 'P', 0x80, 0xa1, 'A', 0x91, 0x01, 0xa2, 'M', 'A', 0x81, 0x01, 0x02})
	f.Add([]byte{0x82, 0xa1, 'R', 0xd6, 0x05, 1, 2, 3, 4, 0xa2, 'P', 'T', 0xd6, 0xff, 0, 0, 0, 1})
	f.Add([]byte{0x81, 0xa2, 'I', 'f', 0xa1, 'x'})
	for _, c := range bombs {
		f.Add(c.b)
	}
	for _, c := range extBombs() {
		f.Add(c.b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var st fuzzTarget
		var a any
		var r codec.Raw
		var sl []any
		var ma map[any]any
		var ms map[string]any
		errs := []error{
			codec.Unmarshal(data, &st), codec.Unmarshal(data, &a), codec.Unmarshal(data, &r),
			codec.Unmarshal(data, &sl), codec.Unmarshal(data, &ma), codec.Unmarshal(data, &ms),
		}
		for _, err := range errs {
			if err != nil {
				require.ErrorIs(t, err, codec.ErrDecode)
			}
		}
		n, verr := codec.Validate(data)
		whole := verr == nil && n == len(data)
		require.Equal(t, whole, errs[2] == nil, "Raw accepts exactly the validated values: %v", errs[2])
		if whole && len(data) > 0 && !(len(data) == 1 && data[0] == 0xc0) {
			require.Equal(t, data, []byte(r))
		}
		if errs[1] == nil {
			b, err := codec.Marshal(a)
			require.NoError(t, err)
			var back any
			require.NoError(t, codec.Unmarshal(b, &back), "re-encoded % x", b)
		}
		if verr != nil {
			return
		}
		// The same bytes through a long-lived Decoder and a fresh one.
		var v1, v2 any
		sharedMu.Lock()
		e1 := sharedDec.Decode(data[:n], &v1)
		sharedMu.Unlock()
		e2 := msgpack.NewDecoder().Decode(data[:n], &v2)
		require.Equal(t, e2 == nil, e1 == nil, "shared: %v, fresh: %v", e1, e2)
		require.Equal(t, fmt.Sprintf("%#v", v2), fmt.Sprintf("%#v", v1))
	})
}

// Decoding allocates in proportion to its input: at most allocPerByte
// bytes per input byte, plus allocSlack for the decoder itself. The
// largest ratio measured is about 170, for arrays of one-entry maps
// nested in one another: two input bytes (0x81 0xc0) become a Go map of
// one entry, about 330 bytes. A declared length that msgpack trusted
// would exceed the bound by orders of magnitude.
const (
	allocPerByte = 256
	allocSlack   = 64 << 10
)

// allocTargets hold anything: any, its containers, and structs of those.
var allocTargets = []func() any{
	func() any { return new(any) },
	func() any { return new([]any) },
	func() any { return new(map[string]any) },
	func() any { return new(map[any]any) },
	func() any { return new([]map[string]any) },
	func() any { return new(map[string]map[string]any) },
	func() any { return new(extHolder) },
	func() any { return new(fuzzTarget) },
}

// FuzzDecodeAllocation decodes arbitrary bytes into each of allocTargets
// and measures the bytes allocated (runtime.MemStats.TotalAlloc, which
// also counts the few allocations ReadMemStats itself makes): no decode
// may exceed allocPerByte per input byte plus allocSlack.
func FuzzDecodeAllocation(f *testing.F) {
	for _, c := range extBombs() {
		f.Add(c.b)
	}
	for _, c := range bombs {
		f.Add(c.b)
	}
	f.Add(rep([]byte{0x81, 0xc0}, 40))
	f.Add([]byte{0x92, 0xc7, 0x00, 0x30, 0x80})
	f.Add([]byte{0x82, 0xa1, 'T', 0xd6, 0xff, 0, 0, 0, 1, 0xa1, 'm', 0x81, 0xa1, 'k', 0x91, 0xa0})
	f.Fuzz(func(t *testing.T, data []byte) {
		limit := uint64(allocPerByte*len(data) + allocSlack)
		for _, newTarget := range allocTargets {
			v := newTarget()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := codec.Unmarshal(data, v)
			runtime.ReadMemStats(&after)
			if err != nil {
				require.ErrorIs(t, err, codec.ErrDecode)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			require.LessOrEqual(t, alloc, limit, "%T from %d bytes: % x", v, len(data), data[:min(len(data), 64)])
		}
	})
}
