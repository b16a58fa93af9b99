package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview17CanceledShutdownBounded checks Shutdown's "returns at most
// 100 ms after ctx ends, whatever the handlers do" with a ctx that has no
// deadline, canceled while a handler that ignores its context runs: the
// 100 ms count from the cancel, not from when the connection was closed.
func TestVreview17CanceledShutdownBounded(t *testing.T) {
	s := server.New()
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	require.NoError(t, server.Handle(s, "V17.Stuck", func(ctx context.Context, _ *struct{}) (*bool, error) {
		started <- struct{}{}
		<-release // ignores ctx
		return new(bool), nil
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	t.Cleanup(func() { close(release) }) // before the server's Close
	go func() { _ = c.Call(context.Background(), "V17.Stuck", struct{}{}, new(bool)) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	ctx, cancel := context.WithCancel(context.Background())
	canceled := make(chan time.Time, 1)
	timer := time.AfterFunc(200*time.Millisecond, func() {
		canceled <- time.Now()
		cancel()
	})
	defer timer.Stop()
	err := s.Shutdown(ctx)
	returned := time.Now()
	require.ErrorIs(t, err, context.Canceled)
	took := returned.Sub(<-canceled)
	t.Logf("Shutdown returned %v after its ctx was canceled", took)
	// 100 ms, and 30 ms for the race detector on a loaded machine: counted
	// anew after the connection closed (its handlers waited for half of
	// the 90 ms), they made at least 135 ms.
	assert.Less(t, took, 130*time.Millisecond)
}

// TestVreview17ShutdownTwiceAtOnce: two Shutdowns at once (a second
// signal, a supervisor and main both stopping the server) both end, the
// second's like the first's, without a panic.
func TestVreview17ShutdownTwiceAtOnce(t *testing.T) {
	s := server.New()
	started := make(chan struct{}, 1)
	require.NoError(t, server.Handle(s, "V17.Short", func(ctx context.Context, _ *struct{}) (*bool, error) {
		started <- struct{}{}
		select {
		case <-server.ShuttingDown(ctx):
		case <-ctx.Done():
		}
		return new(bool), nil
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	called := make(chan error, 1)
	go func() { called <- c.Call(context.Background(), "V17.Short", struct{}{}, new(bool)) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- s.Shutdown(ctx) }()
	}
	for range 2 {
		select {
		case err := <-errs:
			assert.NoError(t, err)
		case <-time.After(15 * time.Second):
			t.Fatal("Shutdown did not return")
		}
	}
	select {
	case err := <-called:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
}

// TestVreview17CloseDuringShutdown: Close while Shutdown waits for a
// handler (that honours its context) ends both at once: Close cancels the
// handler, and Shutdown returns without waiting for its ctx.
func TestVreview17CloseDuringShutdown(t *testing.T) {
	s := server.New()
	started := make(chan struct{}, 1)
	require.NoError(t, server.Handle(s, "V17.Wait", func(ctx context.Context, _ *struct{}) (*bool, error) {
		started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	c2, _ := ferrytest.ServeAndDial(t, s)                             // a second, idle connection
	_ = c2.Call(context.Background(), "V17.Nothing", struct{}{}, nil) // connected (unknown method)
	called := make(chan error, 1)
	go func() { called <- c.Call(context.Background(), "V17.Wait", struct{}{}, new(bool)) }()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not start")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	start := time.Now()
	require.NoError(t, s.Close())
	select {
	case err := <-shut:
		t.Logf("Shutdown returned %v %v after Close began", err, time.Since(start))
		assert.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(15 * time.Second):
		t.Fatal("Shutdown did not return after Close")
	}
	select {
	case err := <-called:
		assert.Error(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
}
