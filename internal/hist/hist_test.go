package hist_test

import (
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/hist"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistogramEmpty(t *testing.T) {
	var h hist.Histogram
	assert.Zero(t, h.Count())
	assert.Zero(t, h.Quantile(0.5))
	assert.Zero(t, h.Mean())
	assert.Zero(t, h.Min())
	assert.Nil(t, h.Linear(10))
}

func TestHistogramQuantilesWithinBucketPrecision(t *testing.T) {
	var h hist.Histogram
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	assert.Equal(t, uint64(10000), h.Count())
	assert.Equal(t, time.Microsecond, h.Min())
	assert.Equal(t, 10*time.Millisecond, h.Max())
	assert.Equal(t, 5000500*time.Nanosecond, h.Mean())
	for _, q := range []float64{0.1, 0.5, 0.9, 0.99, 0.999} {
		want := q * float64(10*time.Millisecond)
		got := float64(h.Quantile(q))
		assert.InDelta(t, want, got, want*0.0625, "q=%v", q)
	}
	assert.Equal(t, time.Microsecond, h.Quantile(0))
	assert.Equal(t, 10*time.Millisecond, h.Quantile(1))
}

func TestHistogramSmallAndHugeValues(t *testing.T) {
	var h hist.Histogram
	h.Record(-5) // counts as 0
	h.Record(0)
	h.Record(7)
	h.Record(time.Duration(1<<63 - 1))
	assert.Equal(t, time.Duration(0), h.Min())
	assert.Equal(t, time.Duration(1<<63-1), h.Max())
	assert.Equal(t, time.Duration(0), h.Quantile(0.25))
	assert.Equal(t, time.Duration(7), h.Quantile(0.75))
}

func TestHistogramLinearAndMerge(t *testing.T) {
	var a, b hist.Histogram
	for i := 0; i < 100; i++ {
		a.Record(time.Millisecond)
		b.Record(2 * time.Millisecond)
	}
	a.Merge(&b)
	assert.Equal(t, uint64(200), a.Count())
	assert.Equal(t, time.Millisecond, a.Min())
	assert.Equal(t, 2*time.Millisecond, a.Max())
	bs := a.Linear(4)
	assert.Len(t, bs, 4)
	var total uint64
	for _, bk := range bs {
		total += bk.Count
	}
	assert.Equal(t, uint64(200), total)
	assert.Equal(t, uint64(100), bs[0].Count)
	assert.Equal(t, uint64(100), bs[3].Count)
}

// Log buckets grow by one factor from Min to Max: a body of fast calls
// and a long tail each get their own bars, where equal-width buckets put
// all but the tail in the first one.
func TestHistogramLog(t *testing.T) {
	var h hist.Histogram
	assert.Nil(t, h.Log(10))
	for i := 0; i < 900; i++ {
		h.Record(100*time.Microsecond + time.Duration(i%10)*10*time.Microsecond) // 100–190 µs
	}
	for i := 0; i < 90; i++ {
		h.Record(time.Millisecond) // a shoulder
	}
	for i := 0; i < 10; i++ {
		h.Record(100 * time.Millisecond) // a tail
	}
	bs := h.Log(10)
	require.Len(t, bs, 10)
	var total uint64
	for i, b := range bs {
		total += b.Count
		assert.Less(t, b.Lo, b.Hi, "bucket %d", i)
		if i > 0 {
			assert.Equal(t, bs[i-1].Hi, b.Lo, "bucket %d follows the previous one", i)
		}
	}
	assert.Equal(t, uint64(1000), total)
	assert.Equal(t, h.Min(), bs[0].Lo)
	assert.Equal(t, h.Max()+1, bs[9].Hi)
	// The factor is the tenth root of 1000: about 2 per bucket.
	ratio := float64(bs[5].Hi) / float64(bs[5].Lo)
	assert.InDelta(t, 2.0, ratio, 0.01)
	// 100–190 µs fall in the first bucket (100–200 µs), 1 ms in the fourth
	// (0.8–1.6 ms), 100 ms in the last: three separate bars.
	assert.Equal(t, uint64(900), bs[0].Count)
	assert.Equal(t, uint64(90), bs[3].Count)
	assert.Equal(t, uint64(10), bs[9].Count)
	// Equal-width buckets, for comparison, put 990 of them in the first.
	assert.Equal(t, uint64(990), h.Linear(10)[0].Count)

	// A narrow range (Max < 2×Min) falls back to equal widths.
	var n hist.Histogram
	n.Record(time.Millisecond)
	n.Record(1500 * time.Microsecond)
	assert.Equal(t, n.Linear(4), n.Log(4))
}

func TestHistogramConcurrentRecord(t *testing.T) {
	var h hist.Histogram
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Record(time.Duration(i+1) * time.Microsecond)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, uint64(8000), h.Count())
	assert.Equal(t, time.Microsecond, h.Min())
	assert.Equal(t, time.Millisecond, h.Max())
}
