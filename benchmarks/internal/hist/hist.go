// Package hist records latencies in a log-linear histogram, the way HDR
// histograms do: values below 128 ns are exact, larger values fall into one
// of 64 buckets per power of two (at most 1.6 % relative error). Recording
// never allocates; a Histogram is not safe for concurrent use, so each
// worker keeps its own and they are merged at the end.
package hist

import (
	"math"
	"math/bits"
	"time"
)

const (
	subBits = 7
	sub     = 1 << subBits // linear range and sub-buckets per doubling (x2)
	half    = sub / 2
	buckets = (64-subBits)*half + sub
)

// Histogram counts durations.
type Histogram struct {
	counts [buckets]uint64
	n      uint64
	max    time.Duration
}

// New returns an empty histogram.
func New() *Histogram { return new(Histogram) }

func index(v uint64) int {
	if v < sub {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift*half + int(v>>uint(shift))
}

// lowest returns the smallest value that falls into bucket i, and the
// bucket's width.
func lowest(i int) (uint64, uint64) {
	if i < sub {
		return uint64(i), 1
	}
	shift := i/half - 1
	top := uint64(i%half + half)
	return top << uint(shift), 1 << uint(shift)
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[index(uint64(d))]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

// Count returns the number of recorded durations.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest recorded duration.
func (h *Histogram) Max() time.Duration { return h.max }

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Quantile returns the duration below which a fraction q (0..1) of the
// recorded durations fall: the middle of the bucket that holds the
// ceil(q*n)-th smallest value, capped at Max. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, width := lowest(i)
			return min(time.Duration(lo+width/2), h.max)
		}
	}
	return h.max
}
