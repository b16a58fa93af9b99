package engine

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The reaper retires the idle workers that served no call in the period
// that ended and keeps the others for one more; once the conn ends,
// stopWorkers wakes every idle worker and the reaper stops.
func TestReapIdleWorkers(t *testing.T) {
	a, b := net.Pipe()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := New(a, Options{})
	t.Cleanup(func() {
		c.Close()
		b.Close()
	})
	mk := func(served bool) *worker { return &worker{next: make(chan *inbound, 1), served: served} }
	quiet, busy, fresh := mk(false), mk(true), mk(true)
	woken := func(w *worker) bool {
		select {
		case in := <-w.next:
			require.Nil(t, in)
			return true
		default:
			return false
		}
	}
	c.wmu.Lock()
	c.idleWk = []*worker{quiet, busy, fresh}
	c.nWorkers = 4 // one more is running a call
	c.reaper = time.AfterFunc(time.Hour, func() {})
	c.wmu.Unlock()

	c.reap()
	assert.True(t, woken(quiet), "a worker idle for a whole period is retired")
	assert.False(t, woken(busy))
	assert.False(t, woken(fresh))
	c.wmu.Lock()
	assert.Equal(t, []*worker{busy, fresh}, c.idleWk)
	assert.Equal(t, 3, c.nWorkers)
	assert.False(t, busy.served)
	c.wmu.Unlock()

	busy.served = true // it served a call since
	c.reap()
	assert.True(t, woken(fresh))
	assert.False(t, woken(busy))
	c.wmu.Lock()
	assert.Equal(t, []*worker{busy}, c.idleWk)
	assert.Equal(t, 2, c.nWorkers)
	c.wmu.Unlock()

	c.stopWorkers()
	assert.True(t, woken(busy), "the conn ended: idle workers exit")
	c.wmu.Lock()
	assert.Empty(t, c.idleWk)
	assert.Equal(t, 1, c.nWorkers, "the busy worker exits when its call returns")
	assert.True(t, c.wkStop)
	assert.False(t, c.reaper.Stop(), "the reaper was stopped")
	c.nWorkers = 0
	c.wmu.Unlock()
}
