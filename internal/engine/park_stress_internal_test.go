package engine

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// pongPair runs two channels over one stream of a session pair, each
// answering the control method $test.ping with "pong".
func pongPair(t *testing.T) (a, b *Channel) {
	t.Helper()
	return sessionPair(t, Options{Control: pong}, Options{Control: pong})
}

// TestParkBoundaryBursts: calls that arrive, in bursts from both sides
// at once, around the moments idle readers park (one and two idle
// periods after the reader last started or saw a message) are all read
// and answered: an arrival racing a reader that parks starts it again.
func TestParkBoundaryBursts(t *testing.T) {
	const pairs, rounds, burst = 6, 4, 4
	var wg sync.WaitGroup
	var parkedAt atomic.Int32
	for p := range pairs {
		a, b := pongPair(t)
		rng := rand.New(rand.NewPCG(uint64(p), uint64(time.Now().UnixNano())))
		wg.Go(func() {
			for r := range rounds {
				// Around the first or the second period's end, within 8 ms.
				gap := time.Duration(1+r%2)*readerIdle - 4*time.Millisecond + time.Duration(rng.Int64N(int64(8*time.Millisecond)))
				<-time.After(gap)
				if parked(a) {
					parkedAt.Add(1)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				var calls sync.WaitGroup
				for i := range 2 * burst {
					from := a
					if i%2 == 1 {
						from = b
					}
					calls.Go(func() {
						var reply string
						assert.NoError(t, from.ControlCall(ctx, "$test.ping", nil, &reply), "pair %d round %d", p, r)
					})
				}
				calls.Wait()
				cancel()
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d bursts found a reader parked", parkedAt.Load(), pairs*rounds)
}
