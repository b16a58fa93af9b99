package report

import (
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRatioFallsBackWithoutPairs checks README.md's account of the ratio
// columns: the median of the per-round ratios, and the quotient of the two
// medians only when the rounds do not pair, as when the divisor completed
// no call in a round; none when the divisor did not run or its median is
// no calls.
func TestRatioFallsBackWithoutPairs(t *testing.T) {
	c := NewCollector([]string{"a", "b", "y", "z"})
	// a/b round by round: 1, 4, 1 (median 1); the medians 20 and 10 give 2.
	for _, pair := range [][2]float64{{10, 10}, {40, 10}, {20, 20}} {
		c.Add(bench.Result{System: "a", Concurrency: 1, CallsPerSec: pair[0]})
		c.Add(bench.Result{System: "b", Concurrency: 1, CallsPerSec: pair[1]})
		c.Add(bench.Result{System: "z", Concurrency: 1})
	}
	// y made calls in one round of three: its median is none.
	for _, v := range []float64{0, 30, 0} {
		c.Add(bench.Result{System: "y", Concurrency: 1, CallsPerSec: v})
	}
	// At 2: b made no call in the second round, so the rounds do not
	// pair: a's median 20 over b's median 10.
	for _, pair := range [][2]float64{{10, 10}, {40, 0}, {20, 20}} {
		c.Add(bench.Result{System: "a", Concurrency: 2, CallsPerSec: pair[0]})
		c.Add(bench.Result{System: "b", Concurrency: 2, CallsPerSec: pair[1]})
	}
	rep := c.Report(Meta{Rounds: 3})
	require.Len(t, rep.Echo, 6)
	ratio := func(conc int, of string) (float64, bool) {
		for _, r := range rep.Echo {
			if r.System == "a" && r.Concurrency == conc {
				return rep.Ratio(r, of)
			}
		}
		t.Fatalf("no result of a at %d", conc)
		return 0, false
	}
	v, ok := ratio(1, "b")
	require.True(t, ok)
	assert.InDelta(t, 1.0, v, 1e-9, "the median of the per-round ratios")
	v, ok = ratio(2, "b")
	require.True(t, ok)
	assert.InDelta(t, 2.0, v, 1e-9, "a round without calls: the quotient of the medians")
	_, ok = ratio(1, "z")
	assert.False(t, ok, "a divisor that never made a call")
	_, ok = ratio(1, "y")
	assert.False(t, ok, "a divisor whose median is no calls")
	_, ok = ratio(1, "nobody")
	assert.False(t, ok, "a divisor that did not run")
}
