package flush

import (
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// windowConn models a yamux stream's writes: a write goes on while the
// peer's window lets it (until proceed is closed) whatever its deadline,
// then waits for window that never comes, until the deadline in force
// while it waits passes; a new deadline wakes it.
type windowConn struct {
	started chan struct{} // closed when the first write begins
	proceed chan struct{} // closed to let the write reach the wait
	once    sync.Once

	mu      sync.Mutex
	dl      time.Time
	changed chan struct{} // closed and replaced when the deadline changes
	closed  chan struct{}
}

func newWindowConn() *windowConn {
	return &windowConn{started: make(chan struct{}), proceed: make(chan struct{}),
		changed: make(chan struct{}), closed: make(chan struct{})}
}

func (c *windowConn) Write([]byte) (int, error) {
	c.once.Do(func() { close(c.started) })
	<-c.proceed
	for range 1000 { // bounded: one turn per deadline change
		c.mu.Lock()
		dl, changed := c.dl, c.changed
		c.mu.Unlock()
		var timeout <-chan time.Time
		if !dl.IsZero() {
			timeout = time.After(time.Until(dl))
		}
		select {
		case <-changed:
		case <-timeout:
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	return 0, errors.New("too many deadline changes")
}

func (c *windowConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dl = t
	close(c.changed)
	c.changed = make(chan struct{})
	return nil
}

func (c *windowConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.closed:
	default:
		close(c.closed)
	}
	return nil
}

// TestRenewBoundsTheWriteInFlight: a write that began while the writer
// was expired (so it got no deadline of the writer's own) and that is
// still in flight when Renew runs gets the writer's Timeout; Renew used
// to clear the destination's deadline and leave that write with none, so
// that it waited for a peer that reads nothing until Close.
func TestRenewBoundsTheWriteInFlight(t *testing.T) {
	c := newWindowConn()
	errs := make(chan error, 1)
	w := New(c, Config{Timeout: 20 * time.Millisecond, Final: time.Second, OnError: func(err error) { errs <- err }})
	defer w.Close()
	w.Expire()
	_, err := w.Write([]byte("queued while expired"))
	require.NoError(t, err)
	<-c.started // the flusher's write began under the cut
	w.Renew()
	close(c.proceed)
	select {
	case err := <-errs:
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("the write in flight at Renew had no deadline")
	}
}

// TestAbortKeepsTheCut: Shutdown right after Abort (as a stream's Close
// does once the final status has arrived) does not set the final flush's
// deadline over the cut that Abort made for the write in flight: a
// destination that looks at its deadline only when it must wait (a yamux
// stream) would otherwise go on waiting until the final bound.
func TestAbortKeepsTheCut(t *testing.T) {
	c := newWindowConn()
	w := New(c, Config{Timeout: time.Hour, Final: 2 * time.Second})
	_, err := w.Write([]byte("in flight"))
	require.NoError(t, err)
	<-c.started
	w.Abort()
	w.Shutdown()
	c.mu.Lock()
	dl := c.dl
	c.mu.Unlock()
	close(c.proceed)
	assert.True(t, dl.Before(time.Now()), "the write deadline was set again after Abort: %v", time.Until(dl))
	select {
	case <-w.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown waited for the write Abort cut")
	}
	require.NoError(t, w.Close())
}
