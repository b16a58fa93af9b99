package balancer

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
)

// Endpoint is what a Picker sees of one ready endpoint.
type Endpoint interface {
	// Addr is the endpoint's "host:port"; it identifies the endpoint.
	Addr() string
	// Outstanding is how many calls are in flight on it now.
	Outstanding() int
}

// Info describes the call being placed.
type Info struct {
	Ctx    context.Context // the call's context, carrying any hash key
	Method string          // "Service.Method"
	// Skip reports endpoints this call should avoid because an earlier
	// attempt already failed there; nil skips none. A Picker returns an
	// endpoint that Skip rejects only if it has no other.
	Skip func(Endpoint) bool
}

// Picker chooses an endpoint per call; it must be safe for concurrent use.
type Picker interface {
	// Pick returns one of the endpoints the Picker was built with, or nil
	// when it has none.
	Pick(info *Info) Endpoint
}

// Balancer is a load-balancing policy.
type Balancer interface {
	// Build returns a Picker over ready, which is never empty and must not
	// be modified. It is called whenever the ready set changes.
	Build(ready []Endpoint) Picker
}

// RoundRobin returns a policy that sends calls to each endpoint in turn,
// starting at a random one so that many clients do not move in step.
// Endpoints of different weights (Weighted) get turns in proportion,
// interleaved.
func RoundRobin() Balancer { return roundRobin{} }

type roundRobin struct{}

func (roundRobin) Build(ready []Endpoint) Picker {
	if len(ready) == 0 {
		return nonePicker{}
	}
	if w := weights(ready); w != nil {
		return newWRR(ready, w)
	}
	p := &rrPicker{eps: ready}
	p.next.Store(rand.Uint64())
	return p
}

type rrPicker struct {
	eps  []Endpoint
	next atomic.Uint64
}

func (p *rrPicker) Pick(info *Info) Endpoint {
	n := uint64(len(p.eps))
	start := p.next.Add(1)
	for i := range n {
		e := p.eps[(start+i)%n]
		if !skipped(info, e) {
			return e
		}
	}
	return p.eps[start%n]
}

// P2C returns the power-of-two-choices policy: pick two endpoints at
// random and use the one with fewer calls outstanding. It follows load
// without any shared state between clients. Endpoints of different
// weights (Weighted) are drawn in proportion to weight and compared by
// calls outstanding per unit of weight.
func P2C() Balancer { return p2c{} }

type p2c struct{}

func (p2c) Build(ready []Endpoint) Picker {
	if len(ready) == 0 {
		return nonePicker{}
	}
	if w := weights(ready); w != nil {
		return &wp2cPicker{eps: ready, w: w}
	}
	return p2cPicker(ready)
}

type p2cPicker []Endpoint

func (p p2cPicker) Pick(info *Info) Endpoint {
	cands := []Endpoint(p)
	if info != nil && info.Skip != nil {
		cands = make([]Endpoint, 0, len(p))
		for _, e := range p {
			if !info.Skip(e) {
				cands = append(cands, e)
			}
		}
		if len(cands) == 0 {
			cands = p
		}
	}
	if len(cands) == 1 {
		return cands[0]
	}
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	if b.Outstanding() < a.Outstanding() {
		return b
	}
	return a
}

// nonePicker is what the built-in policies build over an empty set (which
// the cluster client never passes, but a policy wrapping one may): Pick
// returns nil, as Picker says.
type nonePicker struct{}

func (nonePicker) Pick(*Info) Endpoint { return nil }

func skipped(info *Info, e Endpoint) bool {
	return info != nil && info.Skip != nil && info.Skip(e)
}
