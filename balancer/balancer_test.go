package balancer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type ep struct {
	addr string
	out  atomic.Int64
}

func (e *ep) Addr() string     { return e.addr }
func (e *ep) Outstanding() int { return int(e.out.Load()) }

func endpoints(n int) ([]*ep, []balancer.Endpoint) {
	var eps []*ep
	var bes []balancer.Endpoint
	for i := range n {
		e := &ep{addr: fmt.Sprintf("10.0.0.%d:7000", i+1)}
		eps = append(eps, e)
		bes = append(bes, e)
	}
	return eps, bes
}

func info(ctx context.Context, skip ...balancer.Endpoint) *balancer.Info {
	in := &balancer.Info{Ctx: ctx, Method: "S.M"}
	if len(skip) > 0 {
		in.Skip = func(e balancer.Endpoint) bool {
			for _, s := range skip {
				if s == e {
					return true
				}
			}
			return false
		}
	}
	return in
}

func TestRoundRobinVisitsEachInTurn(t *testing.T) {
	_, bes := endpoints(3)
	p := balancer.RoundRobin().Build(bes)
	counts := map[string]int{}
	first := p.Pick(info(t.Context()))
	counts[first.Addr()]++
	for range 299 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	for _, e := range bes {
		assert.Equal(t, 100, counts[e.Addr()])
	}
	// Skip is honoured, unless nothing else is left.
	for range 10 {
		assert.NotEqual(t, bes[0], p.Pick(info(t.Context(), bes[0])))
	}
	one := balancer.RoundRobin().Build(bes[:1])
	assert.Equal(t, bes[0], one.Pick(info(t.Context(), bes[0])))
}

func TestP2CPrefersTheLessBusy(t *testing.T) {
	eps, bes := endpoints(2)
	eps[0].out.Store(10)
	p := balancer.P2C().Build(bes)
	for range 100 {
		assert.Equal(t, bes[1], p.Pick(info(t.Context())))
	}
	// With equal load it spreads.
	eps[0].out.Store(0)
	_, bes = endpoints(4)
	p = balancer.P2C().Build(bes)
	counts := map[string]int{}
	for range 4000 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	for _, e := range bes {
		assert.InDelta(t, 1000, counts[e.Addr()], 200)
	}
	for range 50 {
		assert.NotEqual(t, bes[2], p.Pick(info(t.Context(), bes[2])))
	}
}

func TestConsistentHashIsStableAndMovesLittle(t *testing.T) {
	_, bes := endpoints(5)
	p := balancer.ConsistentHash().Build(bes)
	owner := map[string]string{}
	counts := map[string]int{}
	const keys = 10000
	for i := range keys {
		k := fmt.Sprint("user-", i)
		ctx := balancer.WithHashKey(t.Context(), k)
		a := p.Pick(info(ctx)).Addr()
		require.Equal(t, a, p.Pick(info(ctx)).Addr(), "same key, same endpoint")
		owner[k] = a
		counts[a]++
	}
	for _, e := range bes {
		share := float64(counts[e.Addr()]) / keys
		assert.InDelta(t, 0.2, share, 0.06, "share of %s", e.Addr())
	}

	// Another client with the same set agrees; a set without one endpoint
	// moves only that endpoint's keys.
	p2 := balancer.ConsistentHash().Build(append([]balancer.Endpoint(nil), bes[1:]...))
	moved := 0
	for k, a := range owner {
		b := p2.Pick(info(balancer.WithHashKey(t.Context(), k))).Addr()
		if a != bes[0].Addr() {
			assert.Equal(t, a, b)
		} else if b != a {
			moved++
		}
	}
	assert.Equal(t, counts[bes[0].Addr()], moved)

	// A retry that skips the owner goes where the key would move to.
	for i := range 100 {
		ctx := balancer.WithHashKey(t.Context(), fmt.Sprint("user-", i))
		first := p.Pick(info(ctx))
		second := p.Pick(info(ctx, first))
		assert.NotEqual(t, first, second)
		var without []balancer.Endpoint
		for _, e := range bes {
			if e != first {
				without = append(without, e)
			}
		}
		assert.Equal(t, second.Addr(), balancer.ConsistentHash().Build(without).Pick(info(ctx)).Addr())
	}

	// No key: spread at random.
	counts = map[string]int{}
	for range 5000 {
		counts[p.Pick(info(t.Context())).Addr()]++
	}
	for _, e := range bes {
		assert.Greater(t, counts[e.Addr()], 700)
	}
	_, ok := balancer.HashKey(t.Context())
	assert.False(t, ok)
}
