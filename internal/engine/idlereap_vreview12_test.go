package engine_test

import (
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview12IdleCountFollowsTheReaper: the idle goroutines a Limiter
// counts go back to zero when the reaper retires them, so that a
// connection's streams may keep idle goroutines again after a quiet
// period (a count that stuck would leave every later call starting a
// goroutine).
func TestVreview12IdleCountFollowsTheReaper(t *testing.T) {
	const slots = 2
	lim := engine.NewLimiter(slots, slots)
	s := newSvc()
	c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
	c.KeepIdleWorkers(20 * time.Millisecond)
	for round := range 3 {
		for i := range slots {
			p.send(request(uint32(10*round+i+1), "T.Hold", params(int64(i)), noExt))
		}
		for range slots {
			recv(t, s.entered)
		}
		for range slots {
			s.release <- struct{}{}
		}
		for range slots {
			p.read()
		}
		require.Eventually(t, func() bool { return lim.Idle() == 0 && c.Workers() == 0 }, 5*time.Second, time.Millisecond,
			"round %d: the reaper retired them and uncounted them", round)
	}
	assert.Equal(t, 0, lim.Idle())
}
