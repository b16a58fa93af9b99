package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24ConnHooks: onDisconnect runs once the connection has ended
// and its handlers have returned; a connection that sends nothing within
// SniffTimeout gets neither hook; a plain MessagePack-RPC client counts
// as connected at its first byte.
func TestVaudit24ConnHooks(t *testing.T) {
	connected := make(chan *server.Peer, 4)
	gone := make(chan *server.Peer, 4)
	inHandler := make(chan struct{}, 1)
	release := make(chan struct{})
	cfg := transport.DefaultConfig()
	cfg.SniffTimeout = 200 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg), server.WithConnHooks(
		func(p *server.Peer) { connected <- p },
		func(p *server.Peer) { gone <- p }))
	require.NoError(t, server.Handle(s, "B.Hold", func(ctx context.Context, _ *struct{}) (*bool, error) {
		inHandler <- struct{}{}
		<-ctx.Done()
		<-release
		return nil, nil
	}))
	addr := ferrytest.Serve(t, s)

	silent, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer silent.Close()
	one := make([]byte, 1)
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = silent.Read(one)
	require.Error(t, err, "the silent connection is closed")

	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	var p *server.Peer
	select {
	case p = <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no onConnect")
	}
	held := c.Go(t.Context(), "B.Hold", nil, nil)
	<-inHandler
	require.NoError(t, c.Close())
	assert.Error(t, held.Wait())
	<-p.Done()
	assert.Never(t, func() bool { return len(gone) > 0 }, 200*time.Millisecond, 10*time.Millisecond,
		"onDisconnect ran while a handler of the connection still ran")
	close(release)
	select {
	case g := <-gone:
		assert.Equal(t, p.ID(), g.ID())
	case <-time.After(5 * time.Second):
		t.Fatal("no onDisconnect")
	}
	assert.Empty(t, connected, "the silent connection got no hook")

	plain := ferrytest.Dial(t, addr, client.WithPlainMsgpackRPC())
	require.NoError(t, plain.Call(t.Context(), "Echo.Echo", 1, nil))
	select {
	case <-connected:
	case <-time.After(5 * time.Second):
		t.Fatal("no onConnect for a plain client")
	}
}
