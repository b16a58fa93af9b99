package engine_test

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVraceQueuedCallCancelRacesSlot: the peer's $ferry.cancel of a
// queued call racing the slot coming free (the queue's pop and the
// cancel's removal, Limiter.enqueue): the call runs or is dropped, once,
// it is answered at most once, and the slot and the handler count are
// given back either way, so that the next call runs (run with -race).
func TestVraceQueuedCallCancelRacesSlot(t *testing.T) {
	for round := range 100 {
		s := newSvc()
		lim := engine.NewLimiter(1, 1)
		c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
		p.send(request(1, "T.Hold", params(1), noExt), request(2, "T.Double", params(2), noExt))
		recv(t, s.entered)
		p.send(request(3, "T.Double", params(3), noExt)) // refused: 2 is queued
		require.Equal(t, uint32(3), p.read().ID)

		sent := make(chan struct{})
		go func() {
			defer close(sent)
			p.send(notification("$ferry.cancel", params(2)))
		}()
		close(s.release)
		// Responses are read while the cancel is on its way: the engine's
		// writes wait for the reader of the pipe.
		answers := map[uint32]int{}
		for answers[1] == 0 {
			answers[p.read().ID]++
		}
		<-sent
		// Once the queue is empty and no handler is counted (the cancel's
		// hook runs in a goroutine of its own, and a slot is given back
		// after the answer), the next call runs.
		require.Eventually(t, func() bool { return lim.Queued() == 0 && c.Running() == 0 }, 5*time.Second, time.Millisecond,
			"round %d: a queued call stayed, or a handler was never counted out", round)
		p.send(request(4, "T.Double", params(4), noExt))
		for {
			m := p.read()
			answers[m.ID]++
			if m.ID == 4 {
				assert.Nil(t, m.Error, "round %d: the call after the race was refused", round)
				assert.Equal(t, 8, decode[int](t, m.Result), "round %d", round)
				break
			}
		}
		assert.Equal(t, 1, answers[1], "round %d", round)
		assert.LessOrEqual(t, answers[2], 1, "round %d: the queued call answered twice", round)
		require.Eventually(t, func() bool { return c.Running() == 0 }, 5*time.Second, time.Millisecond,
			"round %d: a handler was counted twice, or never counted out", round)
		if t.Failed() {
			return
		}
	}
}
