package engine

import (
	"context"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestChannelSizeClass: a Channel fits the runtime's 1152-byte size
// class; at 1153 bytes and more every connection's engines would take
// 1280 bytes each. Group small fields (bools next to bools) when adding
// one.
func TestChannelSizeClass(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Channel{}), uintptr(1152))
}

// TestIdleChannelKeepsNoMaps: once a call has been served and both
// readers parked, neither side keeps its calls or running map (a map
// keeps the slots it grew to), and once the handler's worker retired the
// serving side keeps no reaper timer; the next call works as before.
func TestIdleChannelKeepsNoMaps(t *testing.T) {
	r := registry.New()
	require.NoError(t, r.Add(registry.Typed("T.Echo", func(_ context.Context, p *int) (*int, error) { return p, nil })))
	a, b := sessionPair(t, Options{FerryPeer: true}, Options{FerryPeer: true, Registry: r, Control: pong})
	for round := range 2 {
		var reply int
		require.NoError(t, a.Call(t.Context(), "T.Echo", round+7, &reply))
		require.Equal(t, round+7, reply)
		waitParked(t, a)
		waitParked(t, b)
		a.mu.Lock()
		assert.Nil(t, a.calls, "round %d: the caller's calls map", round)
		a.mu.Unlock()
		b.mu.Lock()
		assert.Nil(t, b.running, "round %d: the server's running map", round)
		b.mu.Unlock()
		retired := func() bool {
			b.wmu.Lock()
			defer b.wmu.Unlock()
			return b.nWorkers == 0
		}
		tick := time.NewTicker(5 * time.Millisecond)
		for end := time.Now().Add(10 * time.Second); !retired() && time.Now().Before(end); {
			<-tick.C
		}
		tick.Stop()
		require.True(t, retired(), "round %d: the idle worker retires", round)
		b.wmu.Lock()
		assert.Nil(t, b.reaper, "round %d: no workers, no reaper timer", round)
		assert.Nil(t, b.idleWk, "round %d: nor the idle list's array", round)
		b.wmu.Unlock()
	}
}

// TestReaperDroppedWhenAllRetire: the reap that retires the last worker
// drops the reaper's timer; stopWorkers copes with none.
func TestReaperDroppedWhenAllRetire(t *testing.T) {
	p1, p2 := net.Pipe()
	c := New(p1, Options{})
	t.Cleanup(func() {
		c.Close()
		p2.Close()
	})
	w := &worker{next: make(chan *inbound, 1)}
	c.wmu.Lock()
	c.idleWk = []*worker{w}
	c.nWorkers = 1
	c.reaper = time.AfterFunc(time.Hour, func() {})
	c.wmu.Unlock()
	c.reap()
	require.Nil(t, <-w.next, "the idle worker is retired")
	c.wmu.Lock()
	assert.Nil(t, c.reaper)
	assert.Nil(t, c.idleWk)
	assert.Zero(t, c.nWorkers)
	c.wmu.Unlock()
	c.stopWorkers()
}
