package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
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
