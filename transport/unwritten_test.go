package transport

import (
	"bytes"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stepConn lets one write through for every value on pass, and counts the
// bytes it let through.
type stepConn struct {
	net.Conn
	pass    chan struct{}
	written atomic.Int64
	holding atomic.Int64 // the size of the write waiting for pass
	begun   atomic.Int64 // writes begun
}

func (c *stepConn) SetWriteDeadline(time.Time) error { return nil }
func (c *stepConn) Close() error                     { return nil }

func (c *stepConn) Write(p []byte) (int, error) {
	c.holding.Store(int64(len(p)))
	c.begun.Add(1)
	<-c.pass
	c.holding.Store(0)
	c.written.Add(int64(len(p)))
	return len(p), nil
}

// TestCoalescerUnwrittenBound: what the accepting side holds taken from
// yamux and not yet written (SECURITY.md, "memory held for one
// connection") is a batch being written plus up to coalesceMax queued
// behind it: nearly twice coalesceMax when the send loop pauses just
// before the queue is full and the flusher takes it whole, never more
// than twice it and a frame.
func TestCoalescerUnwrittenBound(t *testing.T) {
	c := &stepConn{pass: make(chan struct{})}
	co := newCoalescer(c, time.Minute)
	body := bytes.Repeat([]byte{7}, 1<<10)
	const frame = frameHeader + 1<<10
	var taken atomic.Int64 // frame bytes the coalescer accepted
	write := func() error {
		if _, err := co.Write(frameHdr(0, 3, uint32(len(body)))); err != nil {
			return err
		}
		_, err := co.Write(body)
		taken.Add(frame)
		return err
	}
	unwritten := func() int64 { return taken.Load() - c.written.Load() }
	// fill queues frames until one more could make a writer wait; the
	// first write is in flight, held, so none of this is taken meanwhile.
	fill := func() {
		for unwritten()-c.holding.Load()+2*frame < coalesceMax {
			require.NoError(t, write())
		}
	}
	require.NoError(t, write())
	require.Eventually(t, func() bool { return c.begun.Load() == 1 }, 5*time.Second, time.Millisecond)
	fill()
	c.pass <- struct{}{} // the first write ends: the flusher takes the queue whole
	require.Eventually(t, func() bool { return c.begun.Load() == 2 }, 5*time.Second, time.Millisecond)
	fill()
	t.Logf("held unwritten: %d bytes (%d being written)", unwritten(), c.holding.Load())
	assert.Greater(t, unwritten(), int64(2*coalesceMax-4*frame))

	more := make(chan error, 1)
	go func() { // the send loop goes on: it waits for room
		for range 8 {
			if err := write(); err != nil {
				more <- err
				return
			}
		}
		more <- nil
	}()
	assert.Never(t, func() bool { return unwritten() > 2*coalesceMax+frame }, 100*time.Millisecond, time.Millisecond)
	close(c.pass)
	require.NoError(t, <-more)
	require.NoError(t, co.Close())
	assert.Equal(t, taken.Load(), c.written.Load())
}
