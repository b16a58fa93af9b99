package e2e_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallingConn is a client's connection whose writes stop once stall is
// closed: each later Write blocks until the connection is closed, so that
// nothing the client queues afterwards leaves it (a write already in the
// kernel's hands when stall closes still completes).
type stallingConn struct {
	net.Conn
	stall  chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (c *stallingConn) Write(p []byte) (int, error) {
	select {
	case <-c.stall:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Write(p)
}

func (c *stallingConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// TestWriteQueueWaitEndsWithTheContext checks what Go's doc (ferry.Caller,
// client.Conn) says of a full write queue: Go, Call and Notify wait for
// room "until ctx ends, the call then failing with ctx's error and flagged
// not executed (nothing was sent), or for at most the WriteTimeout".
// Once the client's connection takes no more writes, with a WriteTimeout
// far away (10 s), the queue fills; then each of Go, Call and Notify with
// a 150 ms deadline, and a Go whose context is canceled, returns when its
// context ends, not at the write timeout.
func TestWriteQueueWaitEndsWithTheContext(t *testing.T) {
	s := newServer(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	conn := &stallingConn{Conn: nc, stall: make(chan struct{}), closed: make(chan struct{})}
	ccfg := transport.DefaultConfig()
	ccfg.WriteTimeout = 10 * time.Second
	ccfg.KeepAliveInterval = 0
	c, err := client.New(conn, client.WithConfig(ccfg))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", []byte("up"), nil))
	close(conn.stall)
	args := make([]byte, 256<<10)
	const wait = 150 * time.Millisecond
	const slack = time.Second

	// Fill the queue: each Go has wait to find room; the first that
	// takes that long found none.
	full := false
	for range 64 { // 16 MiB at most, far past the 1 MiB queue
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		t0 := time.Now()
		call := c.Go(ctx, "Echo.Echo", args, nil)
		took := time.Since(t0)
		cancel()
		if took < wait/2 {
			continue
		}
		full = true
		assert.Less(t, took, wait+slack, "Go waited for room past its context's deadline")
		<-call.Done()
		err := call.Err()
		assert.ErrorIs(t, err, context.DeadlineExceeded, "Go: %v", err)
		assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))
		assert.True(t, ferry.NotExecuted(err), "Go: nothing was sent: %v", err)
		break
	}
	require.True(t, full, "the write queue never filled")

	t.Run("Call", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		t0 := time.Now()
		err := c.Call(ctx, "Echo.Echo", args, nil)
		took := time.Since(t0)
		assert.GreaterOrEqual(t, took, wait-10*time.Millisecond)
		assert.Less(t, took, wait+slack, "Call waited for room past its deadline")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
		assert.True(t, ferry.NotExecuted(err), "nothing was sent: %v", err)
	})
	t.Run("Notify", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), wait)
		defer cancel()
		t0 := time.Now()
		err := c.Notify(ctx, "Echo.Echo", args)
		took := time.Since(t0)
		assert.Less(t, took, wait+slack, "Notify waited for room past its deadline")
		assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
	})
	t.Run("Go canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		timer := time.AfterFunc(wait, cancel)
		defer timer.Stop()
		t0 := time.Now()
		call := c.Go(ctx, "Echo.Echo", args, nil)
		took := time.Since(t0)
		assert.Less(t, took, wait+slack, "Go waited for room past its cancel")
		select {
		case <-call.Done():
		case <-time.After(slack):
			t.Fatal("the call did not end after its context was canceled")
		}
		assert.ErrorIs(t, call.Err(), context.Canceled, "%v", call.Err())
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(call.Err()))
	})
}
