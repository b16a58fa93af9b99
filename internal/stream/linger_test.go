package stream_test

import (
	"context"
	"github.com/ferryrpc/ferry/internal/bgroup"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// expiringCtx is a context whose deadline passes when the test says so,
// and whose context.AfterFunc callback runs only when the test says so
// (context.AfterFunc uses its AfterFunc method): the test orders the
// call's abort against the rest.
type expiringCtx struct {
	context.Context
	done chan struct{}

	mu      sync.Mutex
	expired bool
	after   func() // what context.AfterFunc registered
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) Deadline() (time.Time, bool) { return time.Now().Add(time.Hour), true }
func (c *expiringCtx) Done() <-chan struct{}       { return c.done }

func (c *expiringCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.expired {
		return context.DeadlineExceeded
	}
	return nil
}

// AfterFunc records f; stop reports whether f was kept from running.
func (c *expiringCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.after = f
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		kept := !c.expired && c.after != nil
		c.after = nil
		return kept
	}
}

// expire makes the deadline pass and starts what context.AfterFunc
// registered (which runs the call's abort in a goroutine of its own).
func (c *expiringCtx) expire() {
	c.mu.Lock()
	c.expired = true
	f := c.after
	c.mu.Unlock()
	close(c.done)
	if f != nil {
		f()
	}
}

// cutGate is a stream that records its read deadlines and holds the first
// one that is not in the future (the abort's cut) until a deadline in the
// future is set (the lingering) or, when none is, a moment has passed.
type cutGate struct {
	net.Conn
	held     chan struct{} // closed once the first cut is held
	released chan struct{} // closed once the first cut is set
	future   chan struct{} // closed once a deadline in the future is set
	mu       sync.Mutex
	cuts     int
	last     time.Time // the latest deadline set
	futures  int
}

func (g *cutGate) SetReadDeadline(t time.Time) error {
	g.mu.Lock()
	future := t.After(time.Now().Add(time.Second))
	first := !future && g.cuts == 0
	if !future {
		g.cuts++
	}
	g.mu.Unlock()
	if first {
		close(g.held)
		select {
		case <-g.future:
		case <-time.After(300 * time.Millisecond): // no lingering began: the fixed order
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if future {
		g.futures++
		if g.futures == 1 {
			close(g.future)
		}
	}
	g.last = t
	if first {
		close(g.released)
	}
	return g.Conn.SetReadDeadline(t)
}

func (g *cutGate) lastDeadline() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.last
}

type oneStream struct{ conn net.Conn }

func (o oneStream) Open(context.Context) (net.Conn, error) { return o.conn, nil }

// TestExpiredStreamLingersAfterTheCut: a calling stream closed once its
// deadline passed lingers (keeps the stream open for the server to end the
// call with its own deadline) after the context's abort has cut it, even
// when that abort runs late: lingering first and being cut after ended
// the lingering at once, and the server's handler saw a cancel. A
// deadline sends no cancel.
func TestExpiredStreamLingersAfterTheCut(t *testing.T) {
	a, b := net.Pipe()
	gate := &cutGate{Conn: a, held: make(chan struct{}), released: make(chan struct{}), future: make(chan struct{})}
	peerDone := make(chan error, 1)
	go func() { // the server's end: reads until the caller closes
		_, err := io.Copy(io.Discard, b)
		peerDone <- err
	}()
	var bg bgroup.Group
	var cancels atomic.Int32
	d := &stream.Dialer{Session: oneStream{gate}, Limits: wire.DefaultLimits, Background: &bg,
		Cancel: func(uint32) error { cancels.Add(1); return nil }}
	ctx := newExpiringCtx()
	st, err := d.Open(ctx, &ferry.StreamInfo{Method: "Wait.Ctx"})
	require.NoError(t, err)

	ctx.expire()
	select { // the abort is cutting the stream, held by the gate
	case <-gate.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the context's abort never cut the stream")
	}
	require.NoError(t, st.Close()) // cuts again itself, then lingers in the background

	for _, ch := range []chan struct{}{gate.released, gate.future} {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			t.Fatal("the abort's cut was never set, or the expired stream never lingered")
		}
	}
	// Lingering: the stream is open, with a read deadline ahead.
	assert.True(t, gate.lastDeadline().After(time.Now().Add(time.Second)), "the read deadline after lingering began: %v", time.Until(gate.lastDeadline()))
	select {
	case err := <-peerDone:
		t.Fatalf("the stream closed while it should linger: %v", err)
	default:
	}
	require.NoError(t, b.Close()) // the server ends the call
	bg.Wait()
	<-peerDone
	assert.Zero(t, cancels.Load(), "a deadline sent a cancel")
}
