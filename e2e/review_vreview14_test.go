package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview14ConnectHookGoBeforeHello: Peer.Go "starts a call on the
// client and returns at once", and the engine's Go waits "not for the
// network". A connect hook's Go made before the client's hello has
// arrived (a session whose call stream sent only its first byte) returns
// at once all the same; the call goes out after the hello's answer
// (PROTOCOL.md 4, "Message size limits") and completes.
func TestVreview14ConnectHookGoBeforeHello(t *testing.T) {
	cfg := v17Cfg(4 << 20)
	cfg.SniffTimeout = 4 * time.Second
	calls := make(chan *ferry.Call, 1)
	took := make(chan time.Duration, 1)
	addr := v17Server(t, server.WithConfig(cfg), server.WithConnHooks(func(p *server.Peer) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		call := p.Go(ctx, "C14.Ping", 7, nil)
		took <- time.Since(start)
		calls <- call
		<-call.Done()
		cancel()
	}, nil))
	v := v17Dial(t, addr)
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	v.write(hello[:1]) // the server knows a call stream: the hook runs
	select {
	case d := <-took:
		require.Less(t, d, time.Second, "Peer.Go blocked for %v waiting for the client's hello", d)
	case <-time.After(2 * time.Second):
		t.Fatal("Peer.Go did not return within 2 s: it waits for the client's hello")
	}
	v.write(hello[1:])
	answer := v.next()
	require.Len(t, answer, 4, "the hello's answer: %v", v17Brief(answer))
	require.EqualValues(t, 1, answer[1])
	req := v.next() // the hook's call, after the answer
	require.GreaterOrEqual(t, len(req), 4, "%v", v17Brief(req))
	require.EqualValues(t, 0, req[0])
	require.Equal(t, "C14.Ping", req[2])
	v.write(enc([]any{1, req[1], nil, 8}))
	call := <-calls
	select {
	case <-call.Done():
		require.NoError(t, call.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the hook's call did not complete")
	}
}

// TestVreview14CloseWhileHookWaitsForHello: a connect hook's call waiting
// for the client's hello ends when the server closes (Close, or Shutdown
// past its context), well before SniffTimeout, failing not executed.
func TestVreview14CloseWhileHookWaitsForHello(t *testing.T) {
	for _, graceful := range []bool{false, true} {
		t.Run(map[bool]string{false: "Close", true: "Shutdown"}[graceful], func(t *testing.T) {
			cfg := v17Cfg(4 << 20)
			cfg.SniffTimeout = 20 * time.Second
			waiting := make(chan struct{})
			errs := make(chan error, 1)
			s := server.New(server.WithConfig(cfg), server.WithConnHooks(func(p *server.Peer) {
				close(waiting)
				errs <- p.Call(context.Background(), "C14.Ping", 7, nil)
			}, nil))
			t.Cleanup(func() { s.Close() })
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go func() { _ = s.Serve(l) }()
			v := v17Dial(t, l.Addr().String())
			v.write(request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})[:1])
			<-waiting
			start := time.Now()
			if graceful {
				ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
				_ = s.Shutdown(ctx)
				cancel()
			} else {
				require.NoError(t, s.Close())
			}
			select {
			case err := <-errs:
				t.Logf("after %v: %v", time.Since(start), err)
				require.Error(t, err)
				require.True(t, ferry.NotExecuted(err), "%v", err)
			case <-time.After(5 * time.Second):
				t.Fatal("the hook's call still waits for the hello after the server closed")
			}
			require.Less(t, time.Since(start), 5*time.Second)
		})
	}
}

// TestVreview14HookCallWaitEnds: PROTOCOL.md 4 ("Message size limits"):
// a connect hook's call that waits for the hello goes out once the first
// complete message arrives, "whatever it is", and fails (not executed)
// once a session that sent no complete message is closed at SniffTimeout.
func TestVreview14HookCallWaitEnds(t *testing.T) {
	cfg := v17Cfg(4 << 20)
	cfg.SniffTimeout = 600 * time.Millisecond
	errs := make(chan error, 1)
	addr := v17Server(t, server.WithConfig(cfg), server.WithConnHooks(func(p *server.Peer) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		errs <- p.Call(ctx, "C14.Ping", 7, nil)
	}, nil))

	t.Run("not a hello", func(t *testing.T) {
		v := v17Dial(t, addr)
		v.write(request(1, "V17.Nothing", []any{}, map[string]any{}))
		seen := map[any]bool{}
		for range 2 { // the refusal of V17.Nothing, and the hook's call
			m := v.next()
			require.GreaterOrEqual(t, len(m), 4, "%v", v17Brief(m))
			seen[m[0]] = true
			if m[0] == int8(0) {
				require.Equal(t, "C14.Ping", m[2])
				v.write(enc([]any{1, m[1], nil, 8}))
			}
		}
		require.True(t, seen[int8(0)], "the hook's call never came")
		require.NoError(t, <-errs)
	})
	t.Run("nothing complete", func(t *testing.T) {
		v := v17Dial(t, addr)
		start := time.Now()
		v.write(request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})[:2])
		select {
		case err := <-errs:
			t.Logf("after %v: %v", time.Since(start), err)
			require.Error(t, err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("the hook's call still waits 5 s after SniffTimeout")
		}
	})
}
