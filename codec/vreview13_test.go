package codec_test

import (
	"math"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13UnmarshalContract checks Unmarshal's doc: "at most one
// value", "v, which must be a non-nil pointer" (an error, never a panic),
// and the exact conversions for targets past the plain ones (pointers,
// interfaces, maps keyed by integers, time.Duration).
func TestVreview13UnmarshalContract(t *testing.T) {
	one, err := codec.Marshal(1)
	require.NoError(t, err)
	var n int
	assert.ErrorIs(t, codec.Unmarshal(append(one, one...), &n), codec.ErrDecode, "two values")
	assert.Error(t, codec.Unmarshal(nil, &n), "no value")
	assert.Error(t, codec.Unmarshal(one, nil), "nil v")
	assert.Error(t, codec.Unmarshal(one, n), "not a pointer")
	var np *int
	assert.Error(t, codec.Unmarshal(one, np), "a nil pointer")

	enc := func(v any) []byte {
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		return b
	}
	var pi *int8
	assert.Error(t, codec.Unmarshal(enc(300), &pi), "300 into *int8")
	require.NoError(t, codec.Unmarshal(enc(-3), &pi))
	assert.Equal(t, int8(-3), *pi)
	var mk map[int8]string
	assert.Error(t, codec.Unmarshal(enc(map[int]string{300: "x"}), &mk), "a key out of range")
	assert.Error(t, codec.Unmarshal(enc(map[float64]string{1.5: "x"}), &mk), "a fractional key")
	var d time.Duration
	assert.Error(t, codec.Unmarshal(enc(1.5), &d), "1.5 into a Duration")
	assert.Error(t, codec.Unmarshal(enc(uint64(math.MaxUint64)), &d), "past int64 into a Duration")
	var u uint
	assert.Error(t, codec.Unmarshal(enc(math.Copysign(0, -1)*0-1), &u), "-1.0 into a uint")
	var arr [2]int
	assert.Error(t, codec.Unmarshal(enc([]int{1, 2, 3}), &arr), "3 elements into [2]int")
	var b bool
	assert.Error(t, codec.Unmarshal(enc(1), &b), "1 into a bool")
	var s string
	assert.Error(t, codec.Unmarshal(enc(1), &s), "1 into a string")
}
