package transport_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// TestRefusedChargeNeverShows: a charge that a budget or its pool refuses
// is never added first. Before, Charge added and then took back, so that
// a Force at that moment saw the budget past its limit (and the
// connection's data ended the session) or the pool over its limit (and it
// shed a member that had done nothing, and then took the large charge),
// and Used reported the refused bytes: a connection refused 144 MiB of
// arguments showed 150 MiB in use against a 64 MiB budget
// (e2e.TestChargeClassesUnary, under load).
func TestRefusedChargeNeverShows(t *testing.T) {
	const rounds = 20_000
	t.Run("budget", func(t *testing.T) {
		b := transport.NewBudget(1<<20, nil)
		var wg sync.WaitGroup
		var taken atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if b.Charge(2 << 20) {
					taken.Add(1)
				}
			}
		}()
		failed, over := 0, 0
		for range rounds {
			if !b.Force(1) {
				failed++
			}
			if b.Used() > b.Limit() {
				over++
			}
			b.Release(1)
		}
		wg.Wait()
		assert.Zero(t, taken.Load(), "a charge past the limit was taken")
		assert.Zero(t, failed, "Force failed while only a refused charge passed the limit")
		assert.Zero(t, over, "Used reported a refused charge")
	})
	t.Run("pool", func(t *testing.T) {
		p := transport.NewPool(1 << 20)
		held := transport.NewBudget(0, p)
		shed := make(chan struct{}, 1)
		held.OnShed(func() { shed <- struct{}{} })
		assert.True(t, held.Force(512<<10))
		big := transport.NewBudget(0, p)
		small := transport.NewBudget(0, p)
		var wg sync.WaitGroup
		var taken atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				if big.Charge(1 << 20) {
					taken.Add(1)
					big.Release(1 << 20)
				}
			}
		}()
		over := 0
		for range rounds {
			small.Force(1)
			if p.Used() > p.Limit() {
				over++
			}
			small.Release(1)
		}
		wg.Wait()
		assert.Zero(t, taken.Load(), "a charge past the pool's limit was taken")
		assert.Zero(t, p.Sheds(), "the pool shed a member for a charge it refused")
		assert.Zero(t, over, "the pool's Used reported a refused charge")
	})
}
