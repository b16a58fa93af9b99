package e2e_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestVaudit19DropMidHelloEndsHookCalls: a connect hook runs at the
// first byte of a call stream, and a call or stream it starts before the
// client's hello has arrived waits for it ("the end of a conn settles the
// wait too"). A session that sends half its hello and drops: the hook's
// call and stream end at once, not executed (nothing was sent), not
// after SniffTimeout, and the server's goroutines are gone once it
// shuts down.
func TestVaudit19DropMidHelloEndsHookCalls(t *testing.T) {
	before := []goleak.Option{goleak.IgnoreCurrent()}
	type outcome struct {
		call, stream error
	}
	hooked := make(chan outcome, 1)
	running := make(chan struct{})
	s := server.New(server.WithConnHooks(func(p *server.Peer) {
		close(running)
		var o outcome
		o.call = p.Call(context.Background(), "C.Any", nil, nil)
		_, o.stream = p.NewStream(context.Background(), "C.Stream")
		hooked <- o
	}, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	sess, err := yamux.Client(conn, cfg)
	require.NoError(t, err)
	st, err := sess.OpenStream()
	require.NoError(t, err)
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	_, err = st.Write(hello[:len(hello)/2])
	require.NoError(t, err)
	select {
	case <-running:
	case <-time.After(5 * time.Second):
		t.Fatal("the connect hook did not run")
	}
	start := time.Now()
	require.NoError(t, conn.Close())
	select {
	case o := <-hooked:
		took := time.Since(start)
		assert.Less(t, took, 2*time.Second, "well before SniffTimeout (10 s)")
		assert.True(t, ferry.NotExecuted(o.call), "the hook's call: %v", o.call)
		assert.True(t, ferry.NotExecuted(o.stream) || o.stream == nil, "the hook's stream: %v", o.stream)
		t.Logf("the hook's call and stream ended %v after the drop: %v; %v", took.Round(time.Millisecond), o.call, o.stream)
	case <-time.After(15 * time.Second):
		t.Fatal("the hook's call did not end")
	}
	sess.Close()
	require.NoError(t, s.Shutdown(context.Background()))
	require.ErrorIs(t, <-served, server.ErrServerClosed)
	goleak.VerifyNone(t, before...)
}
