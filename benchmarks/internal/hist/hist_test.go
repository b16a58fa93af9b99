package hist

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBucketsRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123_456, 1 << 40, 1<<63 - 1} {
		i := index(v)
		require.Less(t, i, buckets, "v=%d", v)
		lo, width := lowest(i)
		assert.LessOrEqual(t, lo, v, "v=%d", v)
		assert.Less(t, v-lo, width, "v=%d", v)
		if v >= sub {
			assert.LessOrEqual(t, float64(width)/float64(v), 1.0/64, "v=%d", v)
		}
	}
}

func TestQuantiles(t *testing.T) {
	h := New()
	assert.Equal(t, time.Duration(0), h.Quantile(0.5))
	for i := 1; i <= 10_000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	other := New()
	other.Record(time.Second)
	h.Merge(other)
	assert.Equal(t, uint64(10_001), h.Count())
	assert.Equal(t, time.Second, h.Max())
	assert.InEpsilon(t, float64(5*time.Millisecond), float64(h.Quantile(0.5)), 0.02)
	assert.InEpsilon(t, float64(9900*time.Microsecond), float64(h.Quantile(0.99)), 0.02)
	assert.Equal(t, time.Second, h.Quantile(1))
}
