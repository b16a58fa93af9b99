package otel

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestHeadBelow: the threshold a random uint64 must be under is ratio ×
// 2⁶⁴: none for ratio ≤ 0 or NaN, half the range for 0.5, and just below
// the whole range as ratio nears 1.
func TestHeadBelow(t *testing.T) {
	assert.Zero(t, headBelow(0))
	assert.Zero(t, headBelow(-0.5))
	assert.Zero(t, headBelow(math.NaN()))
	assert.Zero(t, headBelow(math.Inf(-1)))
	assert.Equal(t, uint64(1)<<63, headBelow(0.5))
	assert.Equal(t, uint64(1)<<56, headBelow(1.0/256))
	assert.Equal(t, uint64(math.MaxUint64)-(1<<11)+1, headBelow(1))
	assert.Equal(t, headBelow(1), headBelow(math.Inf(1)))
	in := newInstruments([]Option{WithHeadSampling(0.01)}, false)
	assert.True(t, in.head)
	assert.False(t, in.all)
	assert.InDelta(t, 0.01, float64(in.below)/math.Exp2(64), 1e-12)
	assert.True(t, newInstruments([]Option{WithHeadSampling(1)}, true).all)
	assert.False(t, newInstruments(nil, true).head)
}
