package balancer_test

import (
	"context"
	"fmt"

	"github.com/ferryrpc/ferry/balancer"
)

// endpoint is a ready endpoint as a Picker sees it; the cluster client
// provides these.
type endpoint struct {
	addr        string
	outstanding int
}

func (e *endpoint) Addr() string     { return e.addr }
func (e *endpoint) Outstanding() int { return e.outstanding }

func readySet(addrs ...string) []balancer.Endpoint {
	eps := make([]balancer.Endpoint, len(addrs))
	for i, a := range addrs {
		eps[i] = &endpoint{addr: a}
	}
	return eps
}

// RoundRobin visits every endpoint once per round, from a random start.
func ExampleRoundRobin() {
	p := balancer.RoundRobin().Build(readySet("a:1", "b:1", "c:1"))
	seen := map[string]int{}
	for range 6 {
		seen[p.Pick(&balancer.Info{Ctx: context.Background(), Method: "S.M"}).Addr()]++
	}
	fmt.Println(seen)
	// Output: map[a:1:2 b:1:2 c:1:2]
}

// P2C prefers the less loaded of two random endpoints: with only two, the
// idle one.
func ExampleP2C() {
	busy, idle := &endpoint{addr: "busy:1", outstanding: 9}, &endpoint{addr: "idle:1"}
	p := balancer.P2C().Build([]balancer.Endpoint{busy, idle})
	fmt.Println(p.Pick(&balancer.Info{Ctx: context.Background(), Method: "S.M"}).Addr())
	// Output: idle:1
}

// ConsistentHash sends every call with the same key to the same endpoint,
// and a retry (Skip) to the next one on the ring.
func ExampleConsistentHash() {
	p := balancer.ConsistentHash().Build(readySet("a:1", "b:1", "c:1"))
	ctx := balancer.WithHashKey(context.Background(), "user-42")
	first := p.Pick(&balancer.Info{Ctx: ctx, Method: "Cart.Get"})
	again := p.Pick(&balancer.Info{Ctx: ctx, Method: "Cart.Put"})
	retry := p.Pick(&balancer.Info{Ctx: ctx, Method: "Cart.Get", Skip: func(e balancer.Endpoint) bool { return e == first }})
	fmt.Println(first == again, retry != first)
	// Output: true true
}
