package balancer_test

// Tests of balancer's doc promises that the other tests leave open.

import (
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditRoundRobinRandomStart checks RoundRobin's "starting at a random
// one so that many clients do not move in step": the first picks of many
// pickers over the same set are not all the same endpoint.
func TestAuditRoundRobinRandomStart(t *testing.T) {
	_, bes := endpoints(4)
	first := map[string]int{}
	for range 200 {
		first[balancer.RoundRobin().Build(bes).Pick(info(t.Context())).Addr()]++
	}
	assert.Len(t, first, 4, "every endpoint starts some picker: %v", first)
	for a, n := range first {
		assert.Less(t, n, 120, "%s starts too many pickers: %v", a, first)
	}
}

// TestAuditConsistentHashIgnoresWeights checks Weighted's "ConsistentHash
// ignores weights (a key's owner depends only on the addresses)": the same
// addresses with other weights, 0 included, own every key the same.
func TestAuditConsistentHashIgnoresWeights(t *testing.T) {
	plain := weighted(1, 1, 1)
	heavy := weighted(0, 50, 7)
	pp := balancer.ConsistentHash().Build(plain)
	ph := balancer.ConsistentHash().Build(heavy)
	owned := map[string]int{}
	for i := range 1000 {
		ctx := balancer.WithHashKey(t.Context(), fmt.Sprint("k", i))
		a := pp.Pick(info(ctx)).Addr()
		assert.Equal(t, a, ph.Pick(info(ctx)).Addr())
		owned[a]++
	}
	assert.Greater(t, owned["a"], 100, "the weight-0 endpoint still owns its keys")
}

// TestAuditP2CAllWeightZero checks Weighted's "unless all of them weigh 0
// (then they weigh the same)" for P2C: every endpoint takes calls.
func TestAuditP2CAllWeightZero(t *testing.T) {
	p := balancer.P2C().Build(weighted(0, 0, 0))
	counts := map[string]int{}
	for range 3000 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	for _, a := range []string{"a", "b", "c"} {
		assert.InDelta(t, 1000, counts[a], 250, "%s: %v", a, counts)
	}
}

// TestAuditBoundedNoKey checks BoundedConsistentHash's "Calls without a key
// go to a random endpoint under the bound": with loads 9, 0, 0 (bound
// ceil(1.25 × 10 / 3) = 5) the full endpoint gets none and the others
// share them evenly (uniform, not the one after the full endpoint twice
// as often). The same for ConsistentHash's keyless calls that skip one.
func TestAuditBoundedNoKey(t *testing.T) {
	eps, bes := endpoints(3)
	eps[0].out.Store(9)
	b, err := balancer.BoundedConsistentHash(0)
	require.NoError(t, err)
	p := b.Build(bes)
	counts := map[string]int{}
	for range 2000 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	assert.Zero(t, counts[bes[0].Addr()], "the endpoint at its bound takes none")
	assert.InDelta(t, 1000, counts[bes[1].Addr()], 150, "%v", counts)
	assert.InDelta(t, 1000, counts[bes[2].Addr()], 150, "%v", counts)

	plain := balancer.ConsistentHash().Build(bes)
	counts = map[string]int{}
	for range 2000 {
		counts[plain.Pick(info(t.Context(), bes[1])).Addr()]++
	}
	assert.InDelta(t, 1000, counts[bes[0].Addr()], 150, "%v", counts)
	assert.InDelta(t, 1000, counts[bes[2].Addr()], 150, "%v", counts)

	// Under the bound, all three share.
	eps[0].out.Store(0)
	counts = map[string]int{}
	for range 3000 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	for _, e := range bes {
		assert.Greater(t, counts[e.Addr()], 700, "%v", counts)
	}
}
