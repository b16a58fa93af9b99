package balancer_test

import (
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
)

type wep struct {
	ep
	w int
}

func (e *wep) Weight() int { return e.w }

func weighted(ws ...int) []balancer.Endpoint {
	out := make([]balancer.Endpoint, len(ws))
	for i, w := range ws {
		e := &wep{w: w}
		e.addr = string(rune('a' + i))
		out[i] = e
	}
	return out
}

// Round robin gives each endpoint turns in proportion to its weight,
// interleaved; weight 0 gets none unless everything else is skipped.
func TestRoundRobinHonoursWeights(t *testing.T) {
	bes := weighted(3, 1, 0)
	p := balancer.RoundRobin().Build(bes)
	counts := map[string]int{}
	run := 0
	var last string
	for range 4000 {
		a := p.Pick(info(t.Context())).Addr()
		counts[a]++
		if a == last {
			run++
		}
		last = a
	}
	assert.Equal(t, map[string]int{"a": 3000, "b": 1000}, counts)
	assert.Less(t, run, 2100, "turns interleave, not in blocks")
	assert.Equal(t, bes[2], p.Pick(info(t.Context(), bes[0], bes[1])))

	// All weights 0: all equal.
	p = balancer.RoundRobin().Build(weighted(0, 0))
	counts = map[string]int{}
	for range 100 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	assert.Equal(t, map[string]int{"a": 50, "b": 50}, counts)
}

// P2C draws in proportion to weight and compares load per unit of
// weight: endpoints of weights 3 and 1 end up with calls outstanding 3:1.
func TestP2CHonoursWeights(t *testing.T) {
	bes := weighted(3, 1, 0)
	p := balancer.P2C().Build(bes)
	counts := map[string]int{}
	for range 8000 { // calls that stay outstanding
		e := p.Pick(info(t.Context())).(*wep)
		e.out.Add(1)
		counts[e.addr]++
	}
	assert.Zero(t, counts["c"])
	assert.InDelta(t, 0.75, float64(counts["a"])/8000, 0.01, "load follows weight")
	bes[0].(*wep).out.Store(0)
	bes[1].(*wep).out.Store(0)
	assert.Equal(t, "a", p.Pick(info(t.Context())).Addr(), "idle: the heavier wins")
	// Load per unit of weight: a (weight 3) with 6 outstanding is busier
	// than b (weight 1) with 1.
	bes[0].(*wep).out.Store(6)
	bes[1].(*wep).out.Store(1)
	for range 50 {
		assert.Equal(t, "b", p.Pick(info(t.Context())).Addr())
	}
	assert.Equal(t, bes[2], p.Pick(info(t.Context(), bes[0], bes[1])))
}
