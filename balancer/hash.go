package balancer

import (
	"context"
	"hash/fnv"
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

type consistentHash struct{}

type point struct {
	hash uint64
	ep   int // index into eps
}

type ring struct {
	eps    []Endpoint
	points []point
}

func (consistentHash) Build(ready []Endpoint) Picker {
	r := &ring{eps: ready, points: make([]point, 0, len(ready)*replicas)}
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
	if !ok {
		start := rand.IntN(len(r.eps))
		for i := range r.eps {
			if e := r.eps[(start+i)%len(r.eps)]; !skipped(info, e) {
				return e
			}
		}
		return r.eps[start]
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
	for n := range len(r.points) {
		e := r.eps[r.points[(i+n)%len(r.points)].ep]
		if !skipped(info, e) {
			return e
		}
	}
	return r.eps[r.points[i%len(r.points)].ep]
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
