package engine_test

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The handler goroutines kept idle between calls are bounded per
// Limiter (per connection), not per stream: a stream whose calls end while
// the other streams keep the limiter's worth idle lets its goroutines
// exit, and the count goes down as idle goroutines take calls, are reaped
// or their stream ends.
func TestIdleHandlersSharedBound(t *testing.T) {
	const slots = 3
	lim := engine.NewLimiter(slots, slots)
	s1, s2 := newSvc(), newSvc()
	c1, p1 := start(t, engine.Options{Registry: s1.registry(t), FerryPeer: true, Limiter: lim})
	c2, p2 := start(t, engine.Options{Registry: s2.registry(t), FerryPeer: true, Limiter: lim})
	c1.KeepIdleWorkers(time.Hour)
	c2.KeepIdleWorkers(time.Hour)
	hold := func(s *svc, p *peer) {
		for i := range slots {
			p.send(request(uint32(i+1), "T.Hold", params(int64(i)), noExt))
		}
		for range slots {
			recv(t, s.entered)
		}
	}
	answered := func(p *peer) {
		for range slots {
			p.read()
		}
	}

	hold(s1, p1)
	close(s1.release)
	answered(p1)
	require.Eventually(t, func() bool { return lim.Idle() == slots }, 5*time.Second, time.Millisecond,
		"the first stream's goroutines stay idle for its next calls")
	assert.Equal(t, slots, c1.Workers())

	hold(s2, p2)
	close(s2.release)
	answered(p2)
	require.Eventually(t, func() bool { return c2.Workers() == 0 }, 5*time.Second, time.Millisecond,
		"the limiter's worth is idle on the other stream: these exit")
	assert.Equal(t, slots, lim.Idle())

	// An idle goroutine takes the next call and is idle again after it.
	p1.send(request(9, "T.Double", params(4), noExt))
	assert.Equal(t, uint32(9), p1.read().ID)
	require.Eventually(t, func() bool { return lim.Idle() == slots }, 5*time.Second, time.Millisecond)
	assert.Equal(t, slots, c1.Workers(), "the call reused an idle goroutine")

	// The second stream may keep idle goroutines again once the first
	// stream's end has let its go.
	require.NoError(t, c1.Close())
	assert.Equal(t, 0, lim.Idle())
	p2.send(request(10, "T.Double", params(5), noExt))
	assert.Equal(t, uint32(10), p2.read().ID)
	require.Eventually(t, func() bool { return lim.Idle() == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, c2.Workers())
}
