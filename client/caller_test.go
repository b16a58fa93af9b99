package client_test

import (
	"context"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func serve(t *testing.T, srv *server.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return l.Addr().String()
}

// The typed helpers take any ferry.Caller: a handler calls the client back
// through its server.Peer with them, and a client-side handler calls the
// server through its client.Conn.
func TestTypedHelpersOnPeerAndConn(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the server closed
	srv := server.New()
	require.NoError(t, server.Handle(srv, "Svc.Ask", func(ctx context.Context, _ *struct{}) (*string, error) {
		p := server.PeerFromContext(ctx)
		name, err := client.Invoke[string](ctx, p, "Back.Name", struct{}{})
		if err != nil {
			return nil, err
		}
		again, err := client.Async[string](ctx, p, "Back.Name", struct{}{}).Wait()
		if err != nil {
			return nil, err
		}
		s := *name + "+" + *again
		return &s, nil
	}))
	require.NoError(t, server.Handle(srv, "Svc.Echo", func(_ context.Context, s *string) (*string, error) { return s, nil }))
	c, err := client.Dial(t.Context(), serve(t, srv))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, client.Handle(c, "Back.Name", func(ctx context.Context, _ *struct{}) (*string, error) {
		return client.Invoke[string](ctx, client.ConnFromContext(ctx), "Svc.Echo", "alice")
	}))

	got, err := client.Invoke[string](t.Context(), c, "Svc.Ask", struct{}{})
	require.NoError(t, err)
	assert.Equal(t, "alice+alice", *got)
}

// health.Check and pubsub.Publish work through a cluster.Client as through
// a client.Client.
func TestHealthAndPublishThroughCluster(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the server closed
	srv := server.New()
	require.NoError(t, health.NewServer().Register(srv))
	require.NoError(t, pubsub.NewBroker().Register(srv))
	addr := serve(t, srv)

	cl, err := cluster.New(resolver.Static(addr))
	require.NoError(t, err)
	defer cl.Close()
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	for _, c := range []ferry.Caller{cl, c} {
		st, err := health.Check(t.Context(), c, "")
		require.NoError(t, err)
		assert.Equal(t, health.Serving, st)
		n, err := pubsub.Publish(t.Context(), c, "news", "hi")
		require.NoError(t, err)
		assert.Equal(t, 0, n)
	}
}

// A server interceptor that refuses a call with ferry.MarkNotExecuted
// reaches the caller flagged not executed, as its doc promises.
func TestInterceptorRefusalIsNotExecuted(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t) }) // after the server closed
	ran := false
	srv := server.New(server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "rate limited"))
	}))
	require.NoError(t, server.Handle(srv, "Svc.Echo", func(_ context.Context, s *string) (*string, error) { ran = true; return s, nil }))
	c, err := client.Dial(t.Context(), serve(t, srv))
	require.NoError(t, err)
	defer c.Close()
	_, err = client.Invoke[string](t.Context(), c, "Svc.Echo", "x")
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
	assert.False(t, ran)
}
