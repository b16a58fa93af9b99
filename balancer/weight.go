package balancer

import (
	"math/bits"
	"math/rand/v2"
	"slices"
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

// wrrPicker is RoundRobin over weighted endpoints. Turn n goes to the
// endpoint that owns slot n×stride mod total of the endpoints' weights
// laid end to end (cum): stride is coprime with total, so every total
// turns in a row visit each slot once and give each endpoint exactly its
// weight's turns, and stride near total/φ spreads an endpoint's turns
// over the cycle instead of bunching them. Exact for any set, with no
// schedule to build.
type wrrPicker struct {
	eps    []Endpoint
	cum    []uint64 // cum[i]: the weights of eps[0..i]
	total  uint64
	stride uint64
	next   atomic.Uint64
}

func newWRR(eps []Endpoint, w []int) *wrrPicker {
	p := &wrrPicker{eps: eps, cum: make([]uint64, len(w))}
	for i, x := range w {
		p.total += uint64(x)
		p.cum[i] = p.total
	}
	p.stride = max(1, uint64(float64(p.total)*0.6180339887498949))
	for gcd(p.stride, p.total) != 1 {
		p.stride++
	}
	p.next.Store(rand.Uint64())
	return p
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// owner returns the index of the endpoint whose turn n is.
func (p *wrrPicker) owner(n uint64) int {
	hi, lo := bits.Mul64(n%p.total, p.stride)
	slot := bits.Rem64(hi, lo, p.total)
	i, _ := slices.BinarySearch(p.cum, slot+1) // the first with cum > slot
	return i
}

// wrrSkipTurns bounds the turns a pick looks ahead past skipped endpoints
// before it walks the set.
const wrrSkipTurns = 64

func (p *wrrPicker) Pick(info *Info) Endpoint {
	start := p.next.Add(1)
	first := p.eps[p.owner(start)]
	if !skipped(info, first) {
		return first
	}
	for i := range min(p.total, wrrSkipTurns) {
		if e := p.eps[p.owner(start+1+i)]; !skipped(info, e) {
			return e
		}
	}
	for _, pass := range []bool{true, false} { // weighted endpoints, then weight 0
		for i, e := range p.eps {
			heavy := p.cum[i] > 0 && (i == 0 || p.cum[i] > p.cum[i-1])
			if heavy == pass && !skipped(info, e) {
				return e
			}
		}
	}
	return first
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
