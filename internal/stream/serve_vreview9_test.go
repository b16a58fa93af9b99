package stream_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runServed serves handler on one end of a net.Pipe with lim and a write
// timeout, and returns the other end and a channel closed when Run
// returns.
func runServed(t *testing.T, lim wire.Limits, handler ferry.StreamHandler) (net.Conn, <-chan struct{}) {
	t.Helper()
	caller, b := net.Pipe()
	t.Cleanup(func() { caller.Close() })
	cnt := stream.NewCounter(b, 1)
	sc := stream.New(cnt, lim)
	sc.BoundWrites(nil, 100*time.Millisecond)
	m := &registry.Method{Name: "T.S", Kind: ferry.BidiStreaming, Stream: handler}
	o := &stream.Serving{Logger: slog.New(slog.DiscardHandler), CloseTimeout: 100 * time.Millisecond}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		defer sc.Close()
		o.Run(context.Background(), b, sc, cnt, m, wire.RequestExt{}, func(context.CancelFunc) func() { return func() {} }, nil)
	}()
	return caller, ran
}

// TestVReview9ServedSendLocalLimitKeepsTheCall: a served Send refused by
// a local limit (a message past the size limit) sends nothing and leaves
// the stream usable: the call goes on (its context does not end) and its
// status reaches the caller.
func TestVReview9ServedSendLocalLimitKeepsTheCall(t *testing.T) {
	lim := wire.DefaultLimits
	lim.MaxMessage = 1 << 10
	got := make(chan error, 2)
	caller, ran := runServed(t, lim, func(ctx context.Context, s ferry.ServerStream) (any, error) {
		got <- s.Send(make([]byte, 4<<10))
		got <- ctx.Err()
		return "done", nil
	})
	cc := stream.New(caller, wire.DefaultLimits)
	var rerr error
	for range 16 {
		if rerr = cc.Recv(nil); rerr != nil {
			break
		}
	}
	require.ErrorIs(t, rerr, io.EOF, "the call's status: %v", rerr)
	var result string
	require.NoError(t, cc.Result(&result))
	assert.Equal(t, "done", result)
	sendErr := <-got
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(sendErr), "%v", sendErr)
	assert.NoError(t, <-got, "a local limit does not end the call")
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestVReview9ServedSendTimeoutEndsRecv: a served Send whose write timed
// out fails with CodeUnavailable (the stream's error, not the context's)
// and ends the call: a Recv the handler has waiting on another goroutine
// returns CodeCanceled at once, and the caller gets no status.
func TestVReview9ServedSendTimeoutEndsRecv(t *testing.T) {
	type report struct{ send, recv, ctx error }
	rep := make(chan report, 1)
	caller, ran := runServed(t, wire.DefaultLimits, func(ctx context.Context, s ferry.ServerStream) (any, error) {
		recvd := make(chan error, 1)
		go func() { recvd <- s.Recv(new([]byte)) }() // the caller sends nothing
		var r report
		msg := make([]byte, 16<<10)
		for range 1024 { // 16 MiB: the caller reads none of it
			if r.send = s.Send(msg); r.send != nil {
				break
			}
		}
		select {
		case r.recv = <-recvd:
		case <-time.After(5 * time.Second):
		}
		r.ctx = ctx.Err()
		rep <- r
		return nil, r.send
	})
	var r report
	select {
	case r = <-rep:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler's Send never failed")
	}
	require.Error(t, r.send)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(r.send), "Send: %v", r.send)
	assert.ErrorIs(t, r.ctx, context.Canceled, "the call ended")
	require.Error(t, r.recv, "the handler's Recv still waited 5 s after its Send failed")
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(r.recv), "Recv: %v", r.recv)
	select {
	case <-ran:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	// Nothing but data frames, if anything, reaches the caller: no status.
	_ = caller.SetReadDeadline(time.Now().Add(5 * time.Second))
	cc := stream.New(caller, wire.DefaultLimits)
	var rerr error
	for range 4096 {
		if rerr = cc.Recv(nil); rerr != nil {
			break
		}
	}
	assert.False(t, cc.Final(), "a status was sent: %v", rerr)
}
