package msgpack

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVfuzzUint64IntoFloatOnTheSlowPath: a uint64 of 2^63 and up (0xcf)
// decodes into a float64 or float32 field as the same number on both
// paths; msgpack, which decodes the types the fast path has no plan for
// (a time.Time field here), read it as an int64 and turned it negative
// (FuzzOptionsAgree's seed 79404dde85139c6d).
func TestVfuzzUint64IntoFloatOnTheSlowPath(t *testing.T) {
	type fast struct {
		X float64
		Y float32
		Z []float64
	}
	type slow struct {
		X float64
		Y float32
		Z []float64
		T time.Time
	}
	require.NotNil(t, planFor(reflect.TypeFor[fast]()).p)
	require.Nil(t, planFor(reflect.TypeFor[slow]()).p, "msgpack decodes slow")
	u := []byte{0xcf, 0xda, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x00} // 15722119282675429376, exact in a float64
	top := []byte{0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0}                    // 2^63, exact in a float32
	b := AppendString(AppendMapHeader(nil, 3), "X")
	b = append(AppendString(append(b, u...), "Y"), top...)
	b = append(AppendString(b, "Z"), 0x92)
	b = append(append(b, top...), u...)

	var f fast
	var s slow
	require.NoError(t, NewDecoder().Decode(b, &f))
	require.NoError(t, NewDecoder().Decode(b, &s))
	assert.Equal(t, 15722119282675429376.0, f.X)
	assert.Equal(t, float32(1<<63), f.Y)
	assert.Equal(t, []float64{1 << 63, 15722119282675429376.0}, f.Z)
	assert.Equal(t, f.X, s.X)
	assert.Equal(t, f.Y, s.Y)
	assert.Equal(t, f.Z, s.Z)
}
