package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSlope(t *testing.T) {
	assert.InDelta(t, 2.0, slope([]float64{0, 1, 2, 3}, []float64{1, 3, 5, 7}), 1e-9)
	assert.InDelta(t, 0.0, slope([]float64{1}, []float64{5}), 1e-9)
	assert.InDelta(t, 0.0, slope([]float64{1, 1}, []float64{5, 6}), 1e-9)
	samples := []sample{
		{at: 0, heapInuse: 100}, // before the second half: ignored
		{at: time.Minute, heapInuse: 10, heapLive: 5},
		{at: 2 * time.Minute, heapInuse: 10.5, heapLive: 5},
		{at: 3 * time.Minute, heapInuse: 11, heapLive: 5},
	}
	inuse, live, n := heapSlope(samples, time.Minute)
	assert.Equal(t, 3, n)
	assert.InDelta(t, 0.5, inuse, 1e-9)
	assert.InDelta(t, 0.0, live, 1e-9)
}

func TestOpenFDs(t *testing.T) {
	if n := openFDs(); n != -1 {
		assert.Positive(t, n)
	}
}
