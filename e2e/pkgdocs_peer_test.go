package e2e_test

// Promises of the client and server package docs about calls, streams
// and peers, checked over loopback TCP.

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPkgDocsClientHandlerQueue checks client.WithMaxConcurrentCalls:
// "bounds the handlers running at once for calls the server makes to this
// client. Up to n more wait in a queue; beyond that, calls are refused
// with CodeResourceExhausted and ferry.NotExecuted true."
func TestPkgDocsClientHandlerQueue(t *testing.T) {
	s, peers := peerServer(t)
	c := dialTCP(t, s, client.WithMaxConcurrentCalls(1))
	started := make(chan struct{}, 4)
	gate := make(chan struct{})
	require.NoError(t, client.Handle(c, "Cb.Wait", func(ctx context.Context, n *int) (*int, error) {
		started <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return n, nil
	}))
	p := <-peers
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	var r0 int
	first := p.Go(ctx, "Cb.Wait", 0, &r0)
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the first call did not start")
	}
	// One more may wait in the queue; of the two sent now, exactly one is
	// queued and the other refused as not executed.
	var r1, r2 int
	a, b := p.Go(ctx, "Cb.Wait", 1, &r1), p.Go(ctx, "Cb.Wait", 2, &r2)
	var refused *ferry.Call
	select {
	case <-a.Done():
		refused = a
	case <-b.Done():
		refused = b
	case <-ctx.Done():
		t.Fatal("neither extra call was refused")
	}
	err := refused.Err()
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	close(gate)
	require.NoError(t, first.Wait())
	queued := a
	want, got := 2, &r2
	if refused == a {
		queued = b
	} else {
		want, got = 1, &r1
	}
	require.NoError(t, queued.Wait(), "the queued call runs once a slot frees")
	assert.Equal(t, want, *got)
}

// TestPkgDocsStreamDeadlineWins checks server.StreamHandler: "If ctx's
// deadline passes before the handler returns, the caller gets
// CodeDeadlineExceeded whatever it returns."
func TestPkgDocsStreamDeadlineWins(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.HandleStream("Slow.Ok", ferry.BidiStreaming, func(ctx context.Context, st *server.Stream) (any, error) {
		<-ctx.Done()
		return "fine", nil // a success, returned too late
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	st, err := c.NewStream(ctx, "Slow.Ok")
	require.NoError(t, err)
	defer st.Close()
	err = st.Recv(nil)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestPkgDocsStreamSendSide checks client.Stream: "CloseSend ... Calling it
// again does nothing", Send after CloseSend returns CodeFailedPrecondition,
// Recv returns io.EOF when the handler finished and Result then gives its
// value; and server.HandleServerStream: "a stream that ends without one
// [request] gets CodeInvalidArgument".
func TestPkgDocsStreamSendSide(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.HandleClientStream(s, "Sum.Ints", func(ctx context.Context, recv func() (*int, error)) (*int, error) {
		total := 0
		for {
			n, err := recv()
			if errors.Is(err, io.EOF) {
				return &total, nil
			}
			if err != nil {
				return nil, err
			}
			total += *n
		}
	}))
	require.NoError(t, server.HandleServerStream(s, "Count.To", func(ctx context.Context, n *int, send func(*int) error) error {
		for i := range *n {
			if err := send(&i); err != nil {
				return err
			}
		}
		return nil
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	st, err := c.NewStream(ctx, "Sum.Ints")
	require.NoError(t, err)
	defer st.Close()
	for _, n := range []int{1, 2, 3} {
		require.NoError(t, st.Send(n))
	}
	require.NoError(t, st.CloseSend())
	require.NoError(t, st.CloseSend(), "calling it again does nothing")
	err = st.Send(4)
	assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, st.Recv(nil), io.EOF)
	var total int
	require.NoError(t, st.Result(&total))
	assert.Equal(t, 6, total)

	empty, err := c.NewStream(ctx, "Count.To")
	require.NoError(t, err)
	defer empty.Close()
	require.NoError(t, empty.CloseSend())
	err = empty.Recv(nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
}

// TestPkgDocsCallerContract checks ferry.Caller and client.Client.Close:
// Go never panics (arguments that cannot be encoded, a closed client) and
// reports through the Call; every error is an *ferry.Error; a nil reply
// discards the result; calls after Close fail with an error wrapping
// ferry.ErrClosed; Peer.ID is unique, Peer.Identity is nil without
// authentication, and Peer.Err is nil while the connection is open and
// set once it ended.
func TestPkgDocsCallerContract(t *testing.T) {
	s, peers := peerServer(t)
	c := dialTCP(t, s)
	c2 := dialTCP(t, s)
	p1, p2 := <-peers, <-peers
	assert.NotEqual(t, p1.ID(), p2.ID())
	assert.Nil(t, p1.Identity())
	require.NoError(t, p1.Err())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 1, B: 2}, nil), "a nil reply discards the result")
	var sum int64
	call := c.Go(ctx, "Arith.Add", testsvc.Args{A: 2, B: 3}, &sum)
	require.NoError(t, call.Wait())
	assert.Equal(t, int64(5), sum)

	bad := c.Go(ctx, "Arith.Add", make(chan int), nil) // cannot be encoded
	<-bad.Done()
	require.Error(t, bad.Err())
	var fe *ferry.Error
	assert.ErrorAs(t, bad.Err(), &fe)

	canceled, cancelNow := context.WithCancel(ctx)
	cancelNow()
	err := c.Call(canceled, "Arith.Add", testsvc.Args{}, nil)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
	assert.ErrorIs(t, err, context.Canceled)

	require.NoError(t, c2.Close())
	late := c2.Go(ctx, "Arith.Add", testsvc.Args{}, nil)
	<-late.Done()
	assert.ErrorIs(t, late.Err(), ferry.ErrClosed)
	assert.ErrorAs(t, late.Err(), &fe)
	assert.ErrorIs(t, c2.Call(ctx, "Arith.Add", testsvc.Args{}, nil), ferry.ErrClosed)
	assert.ErrorIs(t, c2.Notify(ctx, "Arith.Add", testsvc.Args{}), ferry.ErrClosed)
	select {
	case <-p2.Done():
	case <-ctx.Done():
		t.Fatal("the peer did not see its client go")
	}
	assert.Error(t, p2.Err(), "set once the connection ended")
}

// TestPkgDocsPositionalParams checks the server package doc's mapping of
// plain MessagePack-RPC params onto a struct argument: [] leaves it at its
// zero value; [x] decodes x into it (a map by field name, an array field by
// field, nil as nothing, and any other x as its first field); a non-empty
// map none of whose keys names a field is refused, an empty one is not.
func TestPkgDocsPositionalParams(t *testing.T) {
	c := dialRaw(t, listen(t, newServer(t)))
	cases := []struct {
		name   string
		params []any
		sum    int64
		code   ferry.Code // a refusal (its message is what a bare client gets)
	}{
		{"no params", []any{}, 0, 0},
		{"one scalar: the first field", []any{3}, 3, 0},
		{"one array: the fields in order", []any{[]any{3, 4}}, 7, 0},
		{"one map: by name", []any{map[string]any{"A": 3, "B": 4}}, 7, 0},
		{"nil", []any{nil}, 0, 0},
		{"empty map", []any{map[string]any{}}, 0, 0},
		{"whole array", []any{3, 4}, 7, 0},
		{"map naming no field", []any{map[string]any{"x": 1}}, 0, ferry.CodeInvalidArgument},
		{"one array too long", []any{[]any{1, 2, 3}}, 0, ferry.CodeInvalidArgument},
	}
	for i, tc := range cases {
		r := c.call(request(uint32(i+1), "Arith.Add", tc.params))
		if tc.code != 0 {
			require.NotNil(t, r.err, tc.name)
			assert.Nil(t, r.result, tc.name)
			assert.Contains(t, r.err, "Arith.Add: ", "%s: refused with a message naming the method", tc.name)
			continue
		}
		require.Nil(t, r.err, "%s: %v", tc.name, r.err)
		assert.EqualValues(t, tc.sum, r.result, tc.name)
	}

	// The same params from a Go client (client.Params is the params array).
	gc := dialTCP(t, newServer(t))
	for _, tc := range cases {
		var sum int64
		err := gc.Call(t.Context(), "Arith.Add", client.Params(tc.params), &sum)
		if tc.code != 0 {
			assert.Equal(t, tc.code, ferry.CodeOf(err), "%s: %v", tc.name, err)
			continue
		}
		require.NoError(t, err, tc.name)
		assert.Equal(t, tc.sum, sum, tc.name)
	}
}

// TestPkgDocsCallHandle checks ferry.Call: "Done returns a channel closed
// when the call completes (any number of goroutines may wait on it); Err
// returns the call's error once Done is closed (nil on success, and nil
// before); Wait blocks until the call completes and returns its error."
func TestPkgDocsCallHandle(t *testing.T) {
	s := newServer(t)
	gate := make(chan struct{})
	require.NoError(t, server.Handle(s, "Gate.Fail", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		select {
		case <-gate:
		case <-ctx.Done():
		}
		return nil, ferry.NewError(ferry.CodeAborted, "after the gate")
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call := c.Go(ctx, "Gate.Fail", struct{}{}, nil)
	assert.Equal(t, "Gate.Fail", call.Method)
	require.NoError(t, call.Err(), "nil before Done is closed")
	waiters := make(chan error, 3)
	for range 3 {
		go func() {
			<-call.Done()
			waiters <- call.Err()
		}()
	}
	close(gate)
	for range 3 {
		select {
		case err := <-waiters:
			assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err))
		case <-ctx.Done():
			t.Fatal("a waiter was not woken")
		}
	}
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(call.Wait()))
}

// TestPkgDocsDisconnectHookAfterHandlers checks server.WithConnHooks:
// "onDisconnect runs once the connection has ended and its handlers have
// returned", once per connection.
func TestPkgDocsDisconnectHookAfterHandlers(t *testing.T) {
	gone := make(chan uint64, 2)
	s := newServer(t, server.WithConnHooks(nil, func(p *server.Peer) { gone <- p.ID() }))
	started, canceled, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	require.NoError(t, server.Handle(s, "Hold.On", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		close(started)
		<-ctx.Done()
		close(canceled)
		<-release // still running after the connection ended
		return nil, ctx.Err()
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call := c.Go(ctx, "Hold.On", struct{}{}, nil)
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the handler did not start")
	}
	require.NoError(t, c.Close())
	require.ErrorIs(t, call.Wait(), ferry.ErrClosed)
	select {
	case <-canceled:
	case <-ctx.Done():
		t.Fatal("the handler's context was not canceled")
	}
	select {
	case <-gone:
		t.Fatal("onDisconnect ran while a handler was still running")
	default:
	}
	close(release)
	select {
	case <-gone:
	case <-ctx.Done():
		t.Fatal("onDisconnect did not run")
	}
	select {
	case <-gone:
		t.Fatal("onDisconnect ran twice")
	default:
	}
}

// TestPkgDocsConnFromContext checks client.ConnFromContext ("the
// connection a client-side handler's call arrived on, to call the server
// back; nil outside such a handler"), Invoke and Async over it, and
// Conn.Done and Conn.Err ("nil while it is open").
func TestPkgDocsConnFromContext(t *testing.T) {
	assert.Nil(t, client.ConnFromContext(context.Background()))
	s, peers := peerServer(t)
	c := dialTCP(t, s)
	require.NoError(t, client.Handle(c, "Cb.AddBack", func(ctx context.Context, a *testsvc.Args) (*int64, error) {
		conn := client.ConnFromContext(ctx)
		if conn == nil {
			return nil, ferry.NewError(ferry.CodeInternal, "no Conn in the handler's context")
		}
		return client.Invoke[int64](ctx, conn, "Arith.Add", a)
	}))
	p := <-peers
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	sum, err := client.Invoke[int64](ctx, p, "Cb.AddBack", testsvc.Args{A: 20, B: 22})
	require.NoError(t, err)
	assert.Equal(t, int64(42), *sum)
	f := client.Async[int64](ctx, c, "Arith.Add", testsvc.Args{A: 1, B: 1})
	<-f.Done()
	got, err := f.Wait()
	require.NoError(t, err)
	assert.Equal(t, int64(2), *got)

	require.NoError(t, c.Err())
	require.NoError(t, c.Close())
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Done was not closed by Close")
	}
	assert.Error(t, c.Err())
}
