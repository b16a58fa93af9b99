package balancer

import (
	"math/rand/v2"
	"sync/atomic"
)

// Weighted is implemented by endpoints that carry a weight, such as the
// cluster client's endpoints found through SRV records
// (resolver.AttrWeight). RoundRobin and P2C send such endpoints calls in
// proportion to their weight; ConsistentHash ignores weights (a key's
// owner depends only on the addresses). An endpoint that does not
// implement Weighted weighs 1. Weight 0 takes calls only when every other
// endpoint is skipped, unless all of them weigh 0 (then they weigh the
// same).
type Weighted interface {
	// Weight is the endpoint's share of calls relative to the others; 0
	// to 65535.
	Weight() int
}

// weights returns each endpoint's weight, or nil when they are all equal
// (the unweighted policies apply).
func weights(eps []Endpoint) []int {
	w := make([]int, len(eps))
	uniform := true
	for i, e := range eps {
		w[i] = 1
		if we, ok := e.(Weighted); ok {
			w[i] = min(max(we.Weight(), 0), 65535)
		}
		uniform = uniform && w[i] == w[0]
	}
	if uniform {
		return nil
	}
	return w
}

// scheduleLen bounds a weighted round robin's schedule.
const scheduleLen = 4096

// schedule interleaves the endpoints in proportion to w (smooth weighted
// round robin: each endpoint's turns are spread out, not in a block),
// scaled down to at most scheduleLen turns.
func schedule(w []int) []int {
	total := 0
	for _, x := range w {
		total += x
	}
	if total > scheduleLen {
		scaled := 0
		for i, x := range w {
			if x > 0 {
				w[i] = max(1, x*scheduleLen/total)
			}
			scaled += w[i]
		}
		total = scaled
	}
	out := make([]int, 0, total)
	cur := make([]int, len(w))
	for range total {
		best := -1
		for i, x := range w {
			cur[i] += x
			if x > 0 && (best < 0 || cur[i] > cur[best]) {
				best = i
			}
		}
		cur[best] -= total
		out = append(out, best)
	}
	return out
}

// wrrPicker is RoundRobin over weighted endpoints.
type wrrPicker struct {
	eps   []Endpoint
	turns []int // indexes into eps
	next  atomic.Uint64
}

func (p *wrrPicker) Pick(info *Info) Endpoint {
	n := uint64(len(p.turns))
	start := p.next.Add(1)
	for i := range n {
		e := p.eps[p.turns[(start+i)%n]]
		if !skipped(info, e) {
			return e
		}
	}
	for _, e := range p.eps { // only weight-0 endpoints are left
		if !skipped(info, e) {
			return e
		}
	}
	return p.eps[p.turns[start%n]]
}

// wp2cPicker is P2C over weighted endpoints: two candidates drawn in
// proportion to weight, and the one with fewer calls outstanding per unit
// of weight wins.
type wp2cPicker struct {
	eps []Endpoint
	w   []int
}

func (p *wp2cPicker) Pick(info *Info) Endpoint {
	a := p.draw(info, -1)
	if a < 0 {
		for _, e := range p.eps { // only weight-0 endpoints are left
			if !skipped(info, e) {
				return e
			}
		}
		return p.eps[rand.IntN(len(p.eps))]
	}
	b := p.draw(info, a)
	if b < 0 {
		return p.eps[a]
	}
	// (out+1)/w compared without division.
	if (p.eps[b].Outstanding()+1)*p.w[a] < (p.eps[a].Outstanding()+1)*p.w[b] {
		return p.eps[b]
	}
	return p.eps[a]
}

// draw picks an endpoint other than not, with probability in proportion
// to weight among those not skipped, or returns -1.
func (p *wp2cPicker) draw(info *Info, not int) int {
	total := 0
	for i, e := range p.eps {
		if i != not && !skipped(info, e) {
			total += p.w[i]
		}
	}
	if total == 0 {
		return -1
	}
	r := rand.IntN(total)
	for i, e := range p.eps {
		if i == not || skipped(info, e) {
			continue
		}
		if r -= p.w[i]; r < 0 {
			return i
		}
	}
	return -1
}
