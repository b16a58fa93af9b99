package e2e_test

// The audit of the core packages' docs (see pkgdocs_audit_test.go):
// streaming calls, their ends, cancellation and limits.

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditStreamSlotsNeverQueue checks WithMaxConcurrentCalls:
// "Streaming calls take a slot but never queue", while "Up to n more
// calls wait in a queue for a slot".
func TestAuditStreamSlotsNeverQueue(t *testing.T) {
	started := make(chan struct{}, 4)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Hold", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			started <- struct{}{}
			var v int
			for st.Recv(&v) == nil {
			}
			return nil, nil
		}))
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	}, server.WithMaxConcurrentCalls(1))
	ctx := t.Context()
	st, err := c.NewStream(ctx, "S.Hold")
	require.NoError(t, err)
	<-started

	st2, err := c.NewStream(ctx, "S.Hold")
	require.NoError(t, err)
	var v int
	err = st2.Recv(&v)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "a stream never queues: %v", err)
	assert.True(t, ferry.NotExecuted(err))

	call := c.Go(ctx, "A.Nop", nil, nil)
	select {
	case <-call.Done():
		t.Fatalf("a unary call did not queue behind the stream: %v", call.Err())
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, st.CloseSend())
	require.ErrorIs(t, st.Recv(&v), io.EOF)
	require.NoError(t, call.Wait(), "it ran once the slot was free")
}

// TestAuditStreamEnds checks client.Stream: Send "once the handler has
// finished successfully" returns CodeFailedPrecondition, and "once a
// failure ended the stream (the handler's error status included), that
// failure"; Result before Recv returned io.EOF is CodeFailedPrecondition;
// Recv returns "the handler's error as a *ferry.Error"; a
// ServerStream method's stream "that ends without [a request] gets
// CodeInvalidArgument"; the server Stream's Context "ends with
// context.Canceled when the caller cancels".
func TestAuditStreamEnds(t *testing.T) {
	canceled := make(chan error, 1)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Ok", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			return "result", nil
		}))
		require.NoError(t, s.HandleStream("S.Fail", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			return nil, ferry.NewError(ferry.CodeAborted, "no").WithDetail("why", "test")
		}))
		require.NoError(t, server.HandleServerStream(s, "S.Count", func(ctx context.Context, n *int, send func(*int) error) error {
			return nil
		}))
		require.NoError(t, s.HandleStream("S.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			<-st.Context().Done()
			canceled <- st.Context().Err()
			return nil, nil
		}))
	})
	ctx := t.Context()

	st, err := c.NewStream(ctx, "S.Ok")
	require.NoError(t, err)
	var s string
	err = st.Result(&s)
	assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "Result before io.EOF: %v", err)
	var fe *ferry.Error
	assert.ErrorAs(t, err, &fe)
	require.ErrorIs(t, st.Recv(&s), io.EOF)
	require.NoError(t, st.Result(&s))
	assert.Equal(t, "result", s)
	assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(st.Send(1)))

	st, err = c.NewStream(ctx, "S.Fail")
	require.NoError(t, err)
	err = st.Recv(&s)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeAborted, fe.Code)
	assert.Equal(t, "test", fe.Details["why"])
	err = st.Send(1)
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err), "that failure: %v", err)

	st, err = c.NewStream(ctx, "S.Count")
	require.NoError(t, err)
	require.NoError(t, st.CloseSend())
	require.NoError(t, st.CloseSend(), "calling it again does nothing")
	err = st.Recv(&s)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "no request: %v", err)

	sctx, cancel := context.WithCancel(ctx)
	st, err = c.NewStream(sctx, "S.Wait")
	require.NoError(t, err)
	require.NoError(t, st.Send(1))
	cancel()
	select {
	case err := <-canceled:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end")
	}
	err = st.Recv(&s)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestAuditWireCounter checks WireCounter: "implemented by the
// ServerStream and ClientStream that Ferry hands to its stream
// interceptors ... the bytes the stream has carried each way so far".
func TestAuditWireCounter(t *testing.T) {
	type counts struct{ sent, received int64 }
	serverSide := make(chan counts, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			var b []byte
			for st.Recv(&b) == nil {
				if err := st.Send(b); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}))
	}, server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		res, err := next(ctx, st)
		wc, ok := st.(ferry.WireCounter)
		if assert.True(t, ok, "the server stream is a WireCounter") {
			s, r := wc.WireBytes()
			serverSide <- counts{s, r}
		}
		return res, err
	}))
	var clientWC ferry.WireCounter
	c, err := client.Dial(t.Context(), addr, client.WithStreamInterceptors(
		func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			cs, err := next(ctx, info)
			if err == nil {
				clientWC, _ = cs.(ferry.WireCounter)
			}
			return cs, err
		}))
	require.NoError(t, err)
	defer c.Close()
	st, err := c.NewStream(t.Context(), "S.Echo")
	require.NoError(t, err)
	payload := make([]byte, 10000)
	for range 3 {
		require.NoError(t, st.Send(payload))
		var back []byte
		require.NoError(t, st.Recv(&back))
	}
	require.NoError(t, st.CloseSend())
	var b []byte
	require.ErrorIs(t, st.Recv(&b), io.EOF)
	require.NotNil(t, clientWC, "the client stream is a WireCounter")
	sent, received := clientWC.WireBytes()
	assert.GreaterOrEqual(t, sent, int64(30000))
	assert.GreaterOrEqual(t, received, int64(30000))
	sc := <-serverSide
	assert.GreaterOrEqual(t, sc.sent, int64(30000))
	assert.GreaterOrEqual(t, sc.received, int64(30000))
}

// TestAuditStreamCancelRightAfterOpen checks NewStream: "Cancelling ctx
// cancels the call on both sides", also when ctx ends right after the
// stream opens, before the server has started the handler (the cancel
// then overtakes the stream's opening), for a handler that only watches
// its context; and the same for a stream a server opens to its client
// (Peer.NewStream: "ctx's deadline and cancellation on both sides").
func TestAuditStreamCancelRightAfterOpen(t *testing.T) {
	const trials = 20
	canceled := make(chan error, trials)
	watch := func(ctx context.Context) {
		select {
		case <-ctx.Done():
			canceled <- ctx.Err()
		case <-time.After(10 * time.Second):
			canceled <- errors.New("never canceled")
		}
	}
	peers := make(chan *server.Peer, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Watch", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			watch(ctx)
			return nil, nil
		}))
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
		return c.HandleStream("C.Watch", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
			watch(ctx)
			return nil, nil
		})
	}))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
	peer := <-peers

	open := map[string]func(ctx context.Context) (func() error, error){
		"client to server": func(ctx context.Context) (func() error, error) {
			st, err := c.NewStream(ctx, "S.Watch")
			if err != nil {
				return nil, err
			}
			return st.Close, st.Send(1)
		},
		"server to client": func(ctx context.Context) (func() error, error) {
			st, err := peer.NewStream(ctx, "C.Watch")
			if err != nil {
				return nil, err
			}
			return st.Close, st.Send(1)
		},
	}
	for name, open := range open {
		for i := range trials {
			ctx, cancel := context.WithCancel(t.Context())
			closeStream, err := open(ctx)
			require.NoError(t, err, "%s %d", name, i)
			cancel()
			select {
			case err := <-canceled:
				require.ErrorIs(t, err, context.Canceled, "%s, trial %d", name, i)
			case <-time.After(15 * time.Second):
				t.Fatalf("%s, trial %d: the handler did not end", name, i)
			}
			_ = closeStream()
		}
	}
}

// TestAuditClientCloseEndsServedStreams checks Client.Close: "the
// handlers of streams the server opened see their contexts canceled. It
// returns after the client's goroutines exit, those handlers included."
func TestAuditClientCloseEndsServedStreams(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	started := make(chan struct{}, 1)
	var ended atomic.Value
	c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
		return c.HandleStream("C.Hold", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // work after the cancel that Close must wait for
			ended.Store(ctx.Err())
			return nil, nil
		})
	}))
	require.NoError(t, err)
	require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
	st, err := (<-peers).NewStream(t.Context(), "C.Hold")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(1))
	<-started
	require.NoError(t, c.Close())
	got := ended.Load()
	require.NotNil(t, got, "Close returned before the stream handler exited")
	assert.ErrorIs(t, got.(error), context.Canceled)
}

// TestAuditStreamAfterConnectionEnd checks that once Done is closed (Conn:
// "closed when the connection ends, by Close or by failure") no stream
// opens: NewStream fails, not executed, on a client whose server closed
// it; and that a unary call then is "never written to any connection"
// (NotExecuted) with a message that does not call its outcome unknown.
func TestAuditStreamAfterConnectionEnd(t *testing.T) {
	for range 10 {
		s, c := auditServer(t, func(s *server.Server) {})
		require.NoError(t, s.Close())
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
		_, err := c.NewStream(t.Context(), "S.Any")
		require.Error(t, err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)

		// A unary call too, and its message agrees with its flag.
		err = c.Call(t.Context(), "S.Any", nil, nil)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		assert.NotContains(t, err.Error(), "may or may not", "a call never sent")
		err = c.Notify(t.Context(), "S.Any", nil)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		assert.NotContains(t, err.Error(), "may or may not", "a notification never sent")
	}
}

// TestAuditStreamCloseCancels checks the typed streams' Close: "releases
// the stream, cancelling the call if it has not finished" (the handler's
// context ends with context.Canceled), and server.Stream.Recv: it returns
// "CodeCanceled ... once ctx ended".
func TestAuditStreamCloseCancels(t *testing.T) {
	ended := make(chan [2]error, 1)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.HandleServerStream(s, "S.Forever", func(ctx context.Context, n *int, send func(*int) error) error {
			for i := 0; ; i++ {
				if err := send(&i); err != nil {
					break
				}
			}
			<-ctx.Done()
			ended <- [2]error{ctx.Err(), nil}
			return nil
		}))
		require.NoError(t, s.HandleStream("S.Recv", server.ClientStream, func(ctx context.Context, st *server.Stream) (any, error) {
			var v int
			for {
				if err := st.Recv(&v); err != nil {
					ended <- [2]error{ctx.Err(), err}
					return nil, nil
				}
			}
		}))
	})
	one := 1
	r, err := client.OpenServerStream[int, int](t.Context(), c, "S.Forever", &one)
	require.NoError(t, err)
	_, err = r.Recv()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	select {
	case got := <-ended:
		assert.ErrorIs(t, got[0], context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the handler")
	}

	w, err := client.OpenClientStream[int, int](t.Context(), c, "S.Recv")
	require.NoError(t, err)
	require.NoError(t, w.Send(&one))
	require.NoError(t, w.Close())
	select {
	case got := <-ended:
		assert.ErrorIs(t, got[0], context.Canceled)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(got[1]), "Recv once ctx ended: %v", got[1])
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the handler")
	}
}

// TestAuditStreamInfoKind checks StreamInfo.Kind: "on the serving side,
// the kind the method was registered with; on the calling side, the kind
// the caller opened (BidiStreaming for an untyped stream)".
func TestAuditStreamInfoKind(t *testing.T) {
	serving := make(chan ferry.StreamKind, 2)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.HandleServerStream(s, "S.Count", func(ctx context.Context, n *int, send func(*int) error) error {
			return send(n)
		}))
	}, server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		serving <- info.Kind
		return next(ctx, st)
	}))
	calling := make(chan ferry.StreamKind, 2)
	c, err := client.Dial(t.Context(), addr, client.WithStreamInterceptors(
		func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			calling <- info.Kind
			return next(ctx, info)
		}))
	require.NoError(t, err)
	defer c.Close()

	st, err := c.NewStream(t.Context(), "S.Count")
	require.NoError(t, err)
	require.NoError(t, st.Send(1))
	require.NoError(t, st.CloseSend())
	var n int
	require.NoError(t, st.Recv(&n))
	require.ErrorIs(t, st.Recv(&n), io.EOF)
	assert.Equal(t, ferry.BidiStreaming, <-calling, "an untyped stream")
	assert.Equal(t, ferry.ServerStreaming, <-serving, "as registered")

	two := 2
	r, err := client.OpenServerStream[int, int](t.Context(), c, "S.Count", &two)
	require.NoError(t, err)
	got, err := r.Recv()
	require.NoError(t, err)
	assert.Equal(t, 2, *got)
	assert.Equal(t, ferry.ServerStreaming, <-calling, "the kind the caller opened")
	assert.Equal(t, ferry.ServerStreaming, <-serving)
	require.NoError(t, r.Close())
}
