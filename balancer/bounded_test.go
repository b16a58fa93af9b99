package balancer_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBoundedConsistentHashOptions(t *testing.T) {
	for _, bad := range []float64{-1, 0.001, 11, math.NaN()} {
		_, err := balancer.BoundedConsistentHash(bad)
		require.Error(t, err, "epsilon %v", bad)
	}
	for _, good := range []float64{0, 0.01, 0.25, 10} {
		_, err := balancer.BoundedConsistentHash(good)
		require.NoError(t, err, "epsilon %v", good)
	}
}

// Under the bound, a key goes to its owner on the plain ring; over it, to
// the next endpoint along the ring; a retry skips the endpoint it tried.
func TestBoundedConsistentHashFollowsTheRing(t *testing.T) {
	eps, bes := endpoints(5)
	b, err := balancer.BoundedConsistentHash(0)
	require.NoError(t, err)
	bounded, plain := b.Build(bes), balancer.ConsistentHash().Build(bes)
	for i := range 500 {
		ctx := balancer.WithHashKey(t.Context(), fmt.Sprint("user-", i))
		owner := plain.Pick(info(ctx))
		require.Equal(t, owner, bounded.Pick(info(ctx)))
		next := plain.Pick(info(ctx, owner))
		assert.Equal(t, next, bounded.Pick(info(ctx, owner)), "a retry goes where the plain ring sends it")
	}
	// The owner is at the bound, ceil(1.25 × (4+1) / 5) = 2 calls.
	ctx := balancer.WithHashKey(t.Context(), "hot")
	owner := plain.Pick(info(ctx)).(*ep)
	owner.out.Store(2)
	others := 2
	for _, e := range eps {
		if e != owner && others > 0 {
			e.out.Store(1)
			others--
		}
	}
	got := bounded.Pick(info(ctx))
	assert.NotEqual(t, owner, got)
	assert.Equal(t, plain.Pick(info(ctx, owner)), got, "the spill-over goes to the next endpoint along the ring")
	owner.out.Store(0) // ceil(1.25 × (2+1) / 5) = 1
	assert.Equal(t, owner, bounded.Pick(info(ctx)), "below the bound again")
}

// skewRun places steps calls with Zipf(s=1.1) keys over 100,000 keys, at
// most window in flight (the oldest completes when the window is full),
// and reports the worst and the average max/mean of the in-flight load
// once the window is full, the calls each endpoint took, and each call's
// endpoint. check runs after every placement.
type skewResult struct {
	worst, average float64  // max/mean of calls in flight, over the run
	served         []int    // calls placed on each endpoint
	placed         []string // each call's endpoint
}

func skewRun(t *testing.T, b balancer.Balancer, n, steps, window int, check func(eps []*ep)) skewResult {
	eps, bes := endpoints(n)
	p := b.Build(bes)
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 100_000-1)
	index := map[string]int{}
	for i, e := range eps {
		index[e.addr] = i
	}
	res := skewResult{served: make([]int, n), placed: make([]string, 0, steps)}
	inFlight := make([]int, 0, window) // endpoint index of each call, oldest first
	sum, measured := 0.0, 0
	for range steps {
		if len(inFlight) == window {
			eps[inFlight[0]].out.Add(-1)
			inFlight = inFlight[1:]
		}
		key := fmt.Sprint("k", zipf.Uint64())
		e := p.Pick(info(balancer.WithHashKey(t.Context(), key))).(*ep)
		e.out.Add(1)
		i := index[e.addr]
		inFlight = append(inFlight, i)
		res.served[i]++
		res.placed = append(res.placed, e.addr)
		if check != nil {
			check(eps)
		}
		if len(inFlight) < window {
			continue // measure the steady state only
		}
		maxLoad := 0
		for _, e := range eps {
			maxLoad = max(maxLoad, e.Outstanding())
		}
		r := float64(maxLoad) / (float64(window) / float64(n))
		res.worst = max(res.worst, r)
		sum += r
		measured++
	}
	res.average = sum / float64(measured)
	return res
}

func maxOverMean(counts []int) float64 {
	total, most := 0, 0
	for _, c := range counts {
		total += c
		most = max(most, c)
	}
	return float64(most) / (float64(total) / float64(len(counts)))
}

// Under Zipf(1.1) keys, the bounded variant keeps every endpoint within
// ceil((1+ε) × the mean) of the calls in flight, after every placement,
// where the plain ring lets the hottest keys' owners run far above it.
// The figures are logged; the moved-key share is checked against the
// plain ring's promise (only the leaving endpoint's keys move).
func TestBoundedLoadUnderSkew(t *testing.T) {
	const n, steps, window = 10, 20_000, 1000
	plain := skewRun(t, balancer.ConsistentHash(), n, steps, window, nil)
	for _, eps := range []float64{0.25, 0.1} {
		b, err := balancer.BoundedConsistentHash(eps)
		require.NoError(t, err)
		res := skewRun(t, b, n, steps, window, func(all []*ep) {
			total := 0
			for _, e := range all {
				total += e.Outstanding()
			}
			limit := int(math.Ceil((1 + eps) * float64(total) / n))
			for _, e := range all {
				require.LessOrEqual(t, e.Outstanding(), limit, "ε=%v: %s above the bound", eps, e.addr)
			}
		})
		t.Logf("Zipf s=1.1, %d endpoints, %d calls, %d in flight: in-flight max/mean worst %.2f average %.2f, served max/mean %.2f (bounded, ε=%v)",
			n, steps, window, res.worst, res.average, maxOverMean(res.served), eps)
		assert.LessOrEqual(t, res.worst, (1+eps)+float64(n)/window+1e-9) // ceil rounds up by < 1 call
		assert.Less(t, res.worst, plain.worst)
	}
	t.Logf("Zipf s=1.1, %d endpoints, %d calls, %d in flight: in-flight max/mean worst %.2f average %.2f, served max/mean %.2f (unbounded)",
		n, steps, window, plain.worst, plain.average, maxOverMean(plain.served))
	assert.Greater(t, plain.worst, 1.5, "the skew makes the plain ring unbalanced")

	// One of 10 endpoints leaves.
	_, bes := endpoints(n)
	before, after := balancer.ConsistentHash().Build(bes), balancer.ConsistentHash().Build(bes[1:])
	const keys = 100_000
	moved := 0
	for k := range keys {
		ctx := balancer.WithHashKey(t.Context(), fmt.Sprint("k", k))
		if before.Pick(info(ctx)).Addr() != after.Pick(info(ctx)).Addr() {
			moved++
		}
	}
	share := float64(moved) / keys
	t.Logf("one of %d endpoints leaves: %.1f %% of %d keys move (plain ring; ideal %.1f %%)", n, 100*share, keys, 100.0/n)
	assert.InDelta(t, 1.0/n, share, 0.03)

	// Bounded: the same calls, with and without the endpoint that leaves.
	b, err := balancer.BoundedConsistentHash(0)
	require.NoError(t, err)
	with := skewRun(t, b, n, steps, window, nil)
	without := skewRunWithout(t, b, n, steps, window)
	changed, wasGone := 0, 0
	for i := range with.placed {
		if with.placed[i] != without[i] {
			changed++
			if with.placed[i] == bes[0].Addr() {
				wasGone++
			}
		}
	}
	t.Logf("one of %d endpoints leaves: %.1f %% of calls go elsewhere (bounded, ε=0.25; %.1f %% had gone to the endpoint that left)",
		n, 100*float64(changed)/steps, 100*float64(wasGone)/steps)
}

// skewRunWithout is skewRun over the same calls without the first
// endpoint, returning each call's endpoint.
func skewRunWithout(t *testing.T, b balancer.Balancer, n, steps, window int) []string {
	eps, bes := endpoints(n)
	p := b.Build(bes[1:])
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 1, 100_000-1)
	var inFlight []*ep
	out := make([]string, 0, steps)
	for range steps {
		if len(inFlight) == window {
			inFlight[0].out.Add(-1)
			inFlight = inFlight[1:]
		}
		e := p.Pick(info(balancer.WithHashKey(t.Context(), fmt.Sprint("k", zipf.Uint64())))).(*ep)
		e.out.Add(1)
		inFlight = append(inFlight, e)
		out = append(out, e.addr)
	}
	_ = eps
	return out
}
