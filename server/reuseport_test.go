package server_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Two servers listen on one port at once; after the first shuts down,
// new connections reach the second, and no dial is refused.
func TestListenReusePortHandsOver(t *testing.T) {
	_, err := server.ListenReusePort(t.Context(), "udp", "127.0.0.1:0")
	require.ErrorContains(t, err, "ferry: ListenReusePort")
	if runtime.GOOS != "linux" {
		_, err := server.ListenReusePort(t.Context(), "tcp", "127.0.0.1:0")
		require.Error(t, err)
		t.Skip("SO_REUSEPORT hand-over is Linux only")
	}
	start := func(name, addr string) (*server.Server, string, chan error) {
		l, err := server.ListenReusePort(t.Context(), "tcp", addr)
		require.NoError(t, err)
		srv := server.New()
		require.NoError(t, server.Handle(srv, "S.Who", func(context.Context, *struct{}) (*string, error) { return &name, nil }))
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		return srv, l.Addr().String(), done
	}
	old, addr, oldDone := start("old", "127.0.0.1:0")
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	var who string
	require.NoError(t, c.Call(t.Context(), "S.Who", struct{}{}, &who))
	assert.Equal(t, "old", who)
	c.Close()
	_, err = net.Listen("tcp", addr)
	require.Error(t, err, "a listener without SO_REUSEPORT cannot share the port")
	nu, addr2, nuDone := start("new", addr)
	assert.Equal(t, addr, addr2)

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, old.Shutdown(ctx))
	require.ErrorIs(t, <-oldDone, server.ErrServerClosed)
	for range 20 {
		c, err := client.Dial(ctx, addr)
		require.NoError(t, err)
		var who string
		require.NoError(t, c.Call(ctx, "S.Who", struct{}{}, &who))
		assert.Equal(t, "new", who)
		c.Close()
	}
	require.NoError(t, nu.Shutdown(ctx))
	require.ErrorIs(t, <-nuDone, server.ErrServerClosed)
}

// A listener handed to a server that was already shut down is closed, not
// left open to queue connections that nobody accepts.
func TestServeAfterShutdownClosesTheListener(t *testing.T) {
	srv := server.New()
	require.NoError(t, srv.Shutdown(t.Context()))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.ErrorIs(t, srv.Serve(l), server.ErrServerClosed)
	_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(time.Second)) // fail, not hang, if it is open
	_, err = l.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}
