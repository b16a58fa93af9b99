package engine_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVraceCloseDuringHalfCloseQueuedBeforeTheCount repeats
// TestCloseDuringHalfCloseRefusesBeforeTheCount: a call queued behind the
// limiter when a Close ends the wait after the peer's half-close is
// answered, not executed, before $ferry.drained [n] (PROTOCOL.md 4: calls
// numbered n or below whose handler had not started are answered before
// the count). The hook that takes a queued call out of the queue once its
// context ends (Limiter.enqueue) also fired for the connection's end and
// answered the call after the reader, finding it taken, sent the count.
func TestVraceCloseDuringHalfCloseQueuedBeforeTheCount(t *testing.T) {
	for round := range 200 {
		got, answered2, drained := closeDuringHalfClose(t)
		require.NotEqual(t, -1, answered2, "round %d: the queued call is answered: %v", round, got)
		if drained >= 0 && !assert.Less(t, answered2, drained, "round %d: answered before the count: %v", round, got) {
			return
		}
	}
}
