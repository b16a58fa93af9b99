package balancer_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview17RoundRobinWeightsExact: weighted RoundRobin over random
// sets (weights 0 to 65535, zeros among them, up to 40 endpoints) gives
// every endpoint exactly its weight's turns in any cycle of total turns,
// never picks a weight-0 endpoint while a weighted one is not skipped,
// picks a weight-0 one when every weighted one is skipped, and an
// endpoint of the set when every one is.
func TestVreview17RoundRobinWeightsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(17, 17))
	for range 200 {
		n := 1 + r.IntN(40)
		ws := make([]int, n)
		total := 0
		for i := range ws {
			switch r.IntN(4) {
			case 0:
				ws[i] = 0
			case 1:
				ws[i] = 1 + r.IntN(3)
			default:
				ws[i] = r.IntN(200)
			}
			total += ws[i]
		}
		eps := weighted(ws...)
		p := balancer.RoundRobin().Build(eps)
		if total > 0 && total < 50000 {
			counts := map[balancer.Endpoint]int{}
			for range total {
				counts[p.Pick(nil)]++
			}
			uniform := true
			for _, w := range ws {
				uniform = uniform && w == ws[0]
			}
			for i, e := range eps {
				if uniform {
					// equal weights: plain round robin, one turn each per n
					if counts[e]*n != total {
						t.Fatalf("weights %v: %d turns for %d in %d", ws, counts[e], i, total)
					}
					continue
				}
				require.Equal(t, ws[i], counts[e], "weights %v: endpoint %d", ws, i)
			}
		}
		var heavy, zero []balancer.Endpoint
		for i, e := range eps {
			if ws[i] > 0 {
				heavy = append(heavy, e)
			} else {
				zero = append(zero, e)
			}
		}
		if len(heavy) > 0 && len(zero) > 0 {
			// Skip every weighted endpoint but one: that one is picked.
			keep := heavy[r.IntN(len(heavy))]
			var skip []balancer.Endpoint
			for _, e := range heavy {
				if e != keep {
					skip = append(skip, e)
				}
			}
			for range 20 {
				assert.Same(t, keep, p.Pick(info(t.Context(), skip...)), "weights %v", ws)
			}
			got := p.Pick(info(t.Context(), heavy...))
			assert.Contains(t, zero, got, "weights %v: every weighted one skipped", ws)
		}
		all := p.Pick(info(t.Context(), eps...))
		assert.Contains(t, eps, all)
	}
}

// TestVreview17RoundRobinWeightsConcurrent: picks from many goroutines
// at once still give exact shares over whole cycles.
func TestVreview17RoundRobinWeightsConcurrent(t *testing.T) {
	eps := weighted(5, 3, 0, 1, 65535)
	p := balancer.RoundRobin().Build(eps)
	total := 5 + 3 + 0 + 1 + 65535
	var mu sync.Mutex
	counts := map[balancer.Endpoint]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[balancer.Endpoint]int{}
			for i := g; i < 4*total; i += 8 {
				local[p.Pick(nil)]++
			}
			mu.Lock()
			for e, n := range local {
				counts[e] += n
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for i, w := range []int{5, 3, 0, 1, 65535} {
		assert.Equal(t, 4*w, counts[eps[i]], "endpoint %d", i)
	}
}
