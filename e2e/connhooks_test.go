package e2e_test

import (
	"bufio"
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestConnHooksWhenTheServerKnowsTheClient checks WithConnHooks' doc: a
// client counts as connected once the server knows what it speaks (a bare
// MessagePack-RPC client's first byte, a session's call stream), and a
// connection that sends nothing within SniffTimeout is closed with
// neither hook called.
func TestConnHooksWhenTheServerKnowsTheClient(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.SniffTimeout = 300 * time.Millisecond
	var connects, disconnects atomic.Int64
	gone := make(chan struct{}, 16)
	s := server.New(server.WithConfig(cfg), server.WithConnHooks(
		func(*server.Peer) { connects.Add(1) },
		func(*server.Peer) { disconnects.Add(1); gone <- struct{}{} }))
	require.NoError(t, server.Handle(s, "Arith.Add", func(_ context.Context, a *[2]int) (*int, error) {
		sum := a[0] + a[1]
		return &sum, nil
	}))
	t.Cleanup(func() { s.Close() })
	addr := listen(t, s)

	// Silent: closed after SniffTimeout, no hook.
	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	took := waitClosed(t, silent, 5*time.Second)
	assert.GreaterOrEqual(t, took, 250*time.Millisecond, "closed before SniffTimeout")
	assert.Zero(t, connects.Load(), "onConnect for a connection that sent nothing")
	assert.Zero(t, disconnects.Load(), "onDisconnect for a connection that sent nothing")

	// Bare: its first byte makes it a client; the hook runs while the
	// message is still incomplete.
	bare, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	req, err := msgpack.Marshal([]any{0, 1, "Arith.Add", []any{[]int{3, 4}}})
	require.NoError(t, err)
	_, err = bare.Write(req[:1])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return connects.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	_, err = bare.Write(req[1:])
	require.NoError(t, err)
	var resp []any
	require.NoError(t, bare.SetReadDeadline(time.Now().Add(5*time.Second)))
	require.NoError(t, msgpack.NewDecoder(bufio.NewReader(bare)).Decode(&resp))
	assert.EqualValues(t, 7, resp[3])
	bare.Close()
	waitGone(t, gone)

	// A Ferry client: connected within Dial.
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return connects.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	c.Close()
	waitGone(t, gone)
	assert.Equal(t, int64(2), disconnects.Load())
}

// waitGone waits at most 5 s for a disconnect hook.
func waitGone(t *testing.T, gone <-chan struct{}) {
	t.Helper()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("onDisconnect did not run within 5 s")
	}
}
