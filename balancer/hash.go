package balancer

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

type hashKey struct{}

// WithHashKey returns a context whose calls, under ConsistentHash, go to
// the endpoint that owns key.
func WithHashKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, hashKey{}, key)
}

// HashKey returns the key set by WithHashKey.
func HashKey(ctx context.Context) (string, bool) {
	if ctx == nil {
		return "", false
	}
	k, ok := ctx.Value(hashKey{}).(string)
	return k, ok
}

// replicas is the number of points each endpoint has on the ring; 160
// keeps the largest share within about 10 % of the mean for small sets.
const replicas = 160

// ConsistentHash returns a policy that sends calls with the same hash key
// (WithHashKey) to the same endpoint while the set is stable; when an
// endpoint leaves, only its keys move, each to the next endpoint on the
// ring, and a retry goes there too. Calls without a key go to a random
// endpoint. Placement depends only on the addresses, so every client
// agrees on it.
func ConsistentHash() Balancer { return consistentHash{} }

// DefaultLoadBound is the ε that BoundedConsistentHash uses when given 0.
const DefaultLoadBound = 0.25

// BoundedConsistentHash returns ConsistentHash with bounded loads: a call
// goes to the owner of its key unless that endpoint already has
// ceil((1+epsilon) × (calls outstanding across the set + 1) / endpoints)
// calls outstanding; then it goes to the next endpoint along the ring
// that is under that bound. So no endpoint carries more than (1+epsilon)
// times the mean load, however skewed the keys (a hot key spills over to
// the next endpoints instead of swamping its owner), while a key still
// goes to the same few endpoints, and mostly to its owner. Load is the
// calls in flight (Endpoint.Outstanding); calls placed at the same
// instant by concurrent pickers may overshoot the bound by those calls.
// epsilon 0 means DefaultLoadBound (0.25); the range is 0.01 to 10.
// Calls without a key go to a random endpoint under the bound.
func BoundedConsistentHash(epsilon float64) (Balancer, error) {
	if epsilon == 0 {
		epsilon = DefaultLoadBound
	}
	if !(epsilon >= 0.01 && epsilon <= 10) {
		return nil, fmt.Errorf("ferry: load bound %v is outside 0.01..10", epsilon)
	}
	return consistentHash{bound: epsilon}, nil
}

type consistentHash struct {
	bound float64 // ε of the bounded-load variant; 0: unbounded
}

type point struct {
	hash uint64
	ep   int // index into eps
}

type ring struct {
	eps    []Endpoint
	points []point
	bound  float64
}

func (b consistentHash) Build(ready []Endpoint) Picker {
	if len(ready) == 0 {
		return nonePicker{}
	}
	r := &ring{eps: ready, points: make([]point, 0, len(ready)*replicas), bound: b.bound}
	for i, e := range ready {
		for v := range replicas {
			r.points = append(r.points, point{hash: hashString(e.Addr() + "#" + strconv.Itoa(v)), ep: i})
		}
	}
	slices.SortFunc(r.points, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return a.ep - b.ep
	})
	return r
}

func (r *ring) Pick(info *Info) Endpoint {
	var key string
	var ok bool
	if info != nil {
		key, ok = HashKey(info.Ctx)
	}
	limit := r.limit()
	if !ok {
		return r.pickAny(info, limit)
	}
	h := hashString(key)
	i, _ := slices.BinarySearchFunc(r.points, h, func(p point, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	if limit < math.MaxInt {
		if e := r.walk(i, func(e Endpoint) bool { return !skipped(info, e) && e.Outstanding() < limit }); e != nil {
			return e
		}
	}
	if e := r.walk(i, func(e Endpoint) bool { return !skipped(info, e) }); e != nil {
		return e
	}
	return r.eps[r.points[i%len(r.points)].ep]
}

// pickAny places a call without a key: uniformly at random among the
// endpoints that are not skipped and under limit, else among those not
// skipped, else anywhere. The first draw usually fits; only when it does
// not are the others counted, so that the endpoint after a full or skipped
// one does not inherit its share.
func (r *ring) pickAny(info *Info, limit int) Endpoint {
	start := rand.IntN(len(r.eps))
	if e := r.eps[start]; !skipped(info, e) && e.Outstanding() < limit {
		return e
	}
	for pass := range 2 {
		var pick Endpoint
		seen := 0
		for _, e := range r.eps {
			if !skipped(info, e) && (pass == 1 || e.Outstanding() < limit) {
				seen++
				if rand.IntN(seen) == 0 { // reservoir sampling: each with chance 1/seen
					pick = e
				}
			}
		}
		if pick != nil {
			return pick
		}
	}
	return r.eps[start]
}

// limit is the most calls an endpoint may have outstanding for it to take
// one more: ceil((1+ε) × (total+1) / n) under a bound, else no limit.
func (r *ring) limit() int {
	if r.bound == 0 {
		return math.MaxInt
	}
	total := 0
	for _, e := range r.eps {
		total += e.Outstanding()
	}
	return int(math.Ceil((1 + r.bound) * float64(total+1) / float64(len(r.eps))))
}

// walk returns the first endpoint along the ring from point i that ok
// accepts, trying each endpoint once, or nil.
func (r *ring) walk(i int, ok func(Endpoint) bool) Endpoint {
	var small uint64 // endpoints tried, when there are at most 64
	var seen []bool
	if len(r.eps) > 64 {
		seen = make([]bool, len(r.eps))
	}
	tried := 0
	for n := range len(r.points) {
		j := r.points[(i+n)%len(r.points)].ep
		if seen != nil {
			if seen[j] {
				continue
			}
			seen[j] = true
		} else {
			if small&(1<<j) != 0 {
				continue
			}
			small |= 1 << j
		}
		if e := r.eps[j]; ok(e) {
			return e
		}
		if tried++; tried == len(r.eps) {
			break
		}
	}
	return nil
}

// hashString is FNV-1a finished with a 64-bit mixer, which spreads the
// near-identical strings of a ring ("addr#1", "addr#2") evenly.
func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
