package transport_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// TestPoolRefusedChargeNeverShowsInBudget: a charge that the connection's
// budget admits but its pool refuses must not show in the budget either.
// Budget.Charge reserves it in the budget first and takes it back once
// the pool refuses: a Force on the same budget meanwhile sees the budget
// past its limit (the connection would be ended for bytes it never held
// together), and Used reports the refused bytes.
func TestPoolRefusedChargeNeverShowsInBudget(t *testing.T) {
	const rounds = 20_000
	p := transport.NewPool(1 << 20)
	held := transport.NewBudget(0, p)
	held.OnShed(func() {})
	assert.True(t, held.Force(512<<10)) // the pool refuses any 1 MiB charge now
	b := transport.NewBudget(1<<20, p)
	var wg sync.WaitGroup
	var taken atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range rounds {
			if b.Charge(1 << 20) { // fits b (when b holds nothing), never the pool
				taken.Add(1)
				b.Release(1 << 20)
			}
		}
	}()
	failed, over := 0, 0
	for range rounds {
		// 256 KiB: within b's limit and, with held's 512 KiB, the pool's.
		if !b.Force(256 << 10) {
			failed++
		}
		if b.Used() > b.Limit() {
			over++
		}
		b.Release(256 << 10)
	}
	wg.Wait()
	assert.Zero(t, taken.Load(), "a charge past the pool's limit was taken")
	assert.Zero(t, failed, "Force failed while only a charge the pool refused passed the budget's limit")
	assert.Zero(t, over, "the budget's Used reported a charge the pool refused")
}
