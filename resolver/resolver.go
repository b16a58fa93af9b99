package resolver

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"
)

// Endpoint is one server of a service.
type Endpoint struct {
	// Addr is the "host:port" to dial; it identifies the endpoint.
	Addr string
	// Attrs are optional facts from the registry, such as an instance id.
	// A change of Attrs for the same Addr tells the client that a new
	// process now serves there (a restart), so it reconnects at once
	// instead of waiting out its backoff.
	Attrs map[string]string
}

// Attrs that the cluster client understands, whatever the resolver:
const (
	// AttrPriority is an endpoint's priority, a decimal integer (0 when
	// absent): calls go only to the ready endpoints of the lowest
	// priority that has any, as with SRV records (RFC 2782).
	AttrPriority = "priority"
	// AttrWeight is an endpoint's weight among those of its priority, a
	// decimal integer from 0 to 65535 (1 when absent or invalid): the
	// balancer sends it calls in proportion (balancer.Weighted). Weight 0
	// takes calls only when every other endpoint of its priority is
	// skipped, unless all of them weigh 0 (then they weigh the same).
	AttrWeight = "weight"
)

// Resolver finds the endpoints of one service.
type Resolver interface {
	// Watch starts watching the service. ctx bounds only the setup; the
	// Watcher lives until Close.
	Watch(ctx context.Context) (Watcher, error)
}

// Watcher streams the complete endpoint set of a service.
type Watcher interface {
	// Next blocks until the set differs from the one it returned last (the
	// first call returns the first set) and returns the whole set, sorted
	// by Addr. It returns an error when a lookup fails; the caller keeps
	// its last good set and calls Next again, and Next paces its retries
	// itself. After Close, or when ctx ends, it returns an error at once.
	Next(ctx context.Context) ([]Endpoint, error)
	// ResolveNow hints that an endpoint failed and the set may be stale.
	// It never blocks; a Watcher that is pushed updates may ignore it.
	ResolveNow()
	// Close stops the Watcher and releases what it holds.
	Close() error
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("ferry: resolver closed")

// Equal reports whether two sets, each sorted by Addr, are the same.
func Equal(a, b []Endpoint) bool {
	return slices.EqualFunc(a, b, func(x, y Endpoint) bool {
		return x.Addr == y.Addr && maps.Equal(x.Attrs, y.Attrs)
	})
}

// Sort sorts a set by Addr and drops repeated addresses (the first wins).
// It returns the shortened slice.
func Sort(eps []Endpoint) []Endpoint {
	slices.SortStableFunc(eps, func(a, b Endpoint) int { return strings.Compare(a.Addr, b.Addr) })
	return slices.CompactFunc(eps, func(a, b Endpoint) bool { return a.Addr == b.Addr })
}

// clone copies a set deeply enough that the caller may keep it.
func clone(eps []Endpoint) []Endpoint {
	out := make([]Endpoint, len(eps))
	for i, e := range eps {
		out[i] = Endpoint{Addr: e.Addr, Attrs: maps.Clone(e.Attrs)}
	}
	return out
}
