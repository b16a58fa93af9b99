package balancer_test

import (
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
)

// TestVaudit23RoundRobinWeightsLargeSet: RoundRobin gives "endpoints of
// different weights (Weighted) turns in proportion". Its schedule was
// scaled down to 4,096 turns with at least one per endpoint, so over a
// large set the proportion was lost: 300 endpoints of weights 1 to 100
// (SRV weights, say) gave weights 1, 2 and 3 the same share, and 3,000
// endpoints of weights 1 and 2 got equal shares. Over whole cycles of the
// schedule every endpoint now gets exactly its weight's share.
func TestVaudit23RoundRobinWeightsLargeSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		w    func(i int) int
		n    int
	}{
		{"300 endpoints, weights 1 to 100", func(i int) int { return i%100 + 1 }, 300},
		{"3000 endpoints, weights 1 and 2", func(i int) int { return i%2 + 1 }, 3000},
		{"2 endpoints, weights 1 and 65535", func(i int) int { return []int{1, 65535}[i] }, 2},
	} {
		eps := make([]balancer.Endpoint, tc.n)
		total := 0
		for i := range eps {
			e := &wep{w: tc.w(i)}
			e.addr = fmt.Sprintf("10.0.%d.%d:7000", i/250, i%250)
			eps[i] = e
			total += e.w
		}
		p := balancer.RoundRobin().Build(eps)
		counts := map[balancer.Endpoint]int{}
		for range total {
			counts[p.Pick(nil)]++
		}
		bad := 0
		for _, e := range eps {
			if counts[e] != e.(*wep).w {
				bad++
			}
		}
		assert.Zero(t, bad, "%s: endpoints whose turns per %d picks are not their weight", tc.name, total)
	}
}
