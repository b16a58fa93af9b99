package engine_test

import (
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVraceCloseAnswersQueuedCallUnavailable: Close "refuses as not
// executed the calls it read whose handlers have not started" with
// CodeUnavailable ("the connection closed before the call started"),
// every time. A queued call's context ends with the connection's, and
// the hook that takes such a call out of the queue (Limiter.enqueue) ran
// it as if its caller had canceled it: CodeCanceled, which a Ferry
// client unwraps to context.Canceled though nobody canceled the call.
func TestVraceCloseAnswersQueuedCallUnavailable(t *testing.T) {
	for round := range 20 {
		s := newSvc()
		lim := engine.NewLimiter(1, 1)
		c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
		p.send(request(1, "T.Hold", params(1), noExt), request(2, "T.Double", params(2), noExt))
		recv(t, s.entered)
		// Once the third request is refused, the second has been queued.
		p.send(request(3, "T.Double", params(3), noExt))
		require.Equal(t, uint32(3), p.read().ID)

		closed := make(chan struct{})
		go func() { _ = c.Close(); close(closed) }()
		m := p.read()
		require.Equal(t, uint32(2), m.ID)
		e := errorOf(t, m)
		assert.True(t, e.NotExecuted, "round %d", round)
		assert.Equal(t, ferry.CodeUnavailable, e.Code, "round %d: %s", round, e.Message)

		close(s.release) // T.Hold ignores its context: Close waits for it
		for {
			m := p.read()
			if m.Type == wire.TypeNotification {
				break // $ferry.drained
			}
		}
		p.readEOF()
		<-closed
		if t.Failed() {
			return
		}
	}
}
