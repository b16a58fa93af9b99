// Package hist is the latency histogram that the ferry CLI's bench and
// the /debug/ferry page share: lock-free, with log-linear buckets (16 per
// power of two), so quantiles are within 6.25 % of the true value.
package hist

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits is log2 of the buckets per power of two: 16 buckets keep every
// quantile within 1/16 (6.25 %) of the true value.
const subBits = 4

// nBuckets covers every positive int64 nanosecond count.
const nBuckets = (64 - subBits + 1) << subBits

// Histogram is a lock-free latency histogram with log-linear buckets
// (16 per power of two, so quantiles are within 6.25 %), from 1 ns to
// about 292 years. Record is safe for concurrent use; the zero value is
// ready to use.
type Histogram struct {
	counts [nBuckets]atomic.Uint64
	count  atomic.Uint64
	sum    atomic.Int64
	max    atomic.Int64
	min    atomic.Int64 // stored as min+1, so that 0 means "none yet"
}

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	e := bits.Len64(v) - subBits - 1 // v>>e is in [16, 32)
	return (e+1)<<subBits + int(v>>e) - 1<<subBits
}

// bucketBounds returns the lowest value of bucket i and the lowest of the
// next.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 1<<subBits {
		return uint64(i), uint64(i) + 1
	}
	e := i>>subBits - 1
	m := uint64(i&(1<<subBits-1) + 1<<subBits)
	return m << e, (m + 1) << e
}

// Record adds one observation; negative durations count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(uint64(v))].Add(1)
	h.count.Add(1)
	h.sum.Add(v)
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
	m := min(v, math.MaxInt64-1) + 1
	for cur := h.min.Load(); (cur == 0 || m < cur) && !h.min.CompareAndSwap(cur, m); cur = h.min.Load() {
	}
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if n := o.counts[i].Load(); n != 0 {
			h.counts[i].Add(n)
		}
	}
	h.count.Add(o.count.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
	if m := o.min.Load(); m != 0 && (h.min.Load() == 0 || m < h.min.Load()) {
		h.min.Store(m)
	}
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Max returns the largest observation, 0 when there is none.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Min returns the smallest observation, 0 when there is none.
func (h *Histogram) Min() time.Duration { return time.Duration(max(h.min.Load()-1, 0)) }

// Mean returns the average observation, 0 when there is none.
func (h *Histogram) Mean() time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1), interpolated within its
// bucket and clamped to [Min, Max]; 0 when there are no observations.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i := range h.counts {
		c := float64(h.counts[i].Load())
		if c == 0 || seen+c < rank {
			seen += c
			continue
		}
		lo, hi := bucketBounds(i)
		v := float64(lo) + float64(hi-lo)*math.Max(rank-seen, 0)/c
		v = math.Min(v, float64(hi-1)) // stay inside the bucket
		return min(max(time.Duration(v), h.Min()), h.Max())
	}
	return h.Max()
}

// Bucket is one bar of a histogram: Count observations in [Lo, Hi).
type Bucket struct {
	Lo, Hi time.Duration
	Count  uint64
}

// Linear regroups the observations into n equal-width buckets from Min to
// Max, as ghz and hey print them; nil when there are no observations.
func (h *Histogram) Linear(n int) []Bucket {
	lo, hi := h.Min(), h.Max()
	if h.Count() == 0 || n < 1 {
		return nil
	}
	width := max((hi-lo+time.Duration(n)-1)/time.Duration(n), 1)
	out := make([]Bucket, n)
	for i := range out {
		out[i].Lo = lo + time.Duration(i)*width
		out[i].Hi = out[i].Lo + width
	}
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		blo, bhi := bucketBounds(i)
		mid := time.Duration(blo + (bhi-blo-1)/2)
		mid = min(max(mid, lo), hi)
		out[min(int((mid-lo)/width), n-1)].Count += c
	}
	return out
}

// Log regroups the observations into n buckets from Min to Max whose
// bounds grow by one factor, as the histogram stores them, so that a long
// tail does not squeeze the body of the distribution into the first bar;
// nil when there are no observations. When Max is less than twice Min
// the buckets are equal-width (Linear), which then reads as well.
func (h *Histogram) Log(n int) []Bucket {
	lo, hi := h.Min(), h.Max()
	if h.Count() == 0 || n < 1 {
		return nil
	}
	base := max(lo, 1)
	if hi < 2*base {
		return h.Linear(n)
	}
	step := math.Log(float64(hi+1)/float64(base)) / float64(n)
	out := make([]Bucket, n)
	for i := range out {
		out[i].Lo = time.Duration(float64(base) * math.Exp(step*float64(i)))
		out[i].Hi = time.Duration(float64(base) * math.Exp(step*float64(i+1)))
	}
	out[0].Lo, out[n-1].Hi = lo, hi+1
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		blo, bhi := bucketBounds(i)
		mid := time.Duration(blo + (bhi-blo-1)/2)
		mid = min(max(mid, base), hi)
		k := int(math.Log(float64(mid)/float64(base)) / step)
		out[min(max(k, 0), n-1)].Count += c
	}
	return out
}
