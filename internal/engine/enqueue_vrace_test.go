package engine_test

import (
	"testing"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVraceQueuedCallsRecycled: calls queued behind WithMaxConcurrentCalls'
// limit from a plain MessagePack-RPC peer (no extensions: their records
// are recycled once answered) run and are answered once each. enqueue
// read the queued call's record after it had put it in the queue, where a
// handler's goroutine could take it, run it and recycle it first: under
// -race, a data race (e2e's TestIdleHandlersBoundedPerConnection).
func TestVraceQueuedCallsRecycled(t *testing.T) {
	s := newSvc()
	lim := engine.NewLimiter(1, 1024)
	_, p := start(t, engine.Options{Registry: s.registry(t), Limiter: lim})
	const n = 1000
	var burst [][]byte
	for i := range n {
		burst = append(burst, request(uint32(i+1), "T.Double", params(int64(i)), nil))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 4 {
			p.send(burst[:n/4]...)
			burst = burst[n/4:]
		}
	}()
	seen := make(map[uint32]bool, n)
	for range n {
		m := p.read()
		require.Nil(t, m.Error)
		assert.False(t, seen[m.ID], "answered twice: %d", m.ID)
		seen[m.ID] = true
	}
	<-done
	assert.Len(t, seen, n)
}
