package e2e_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// conduit names one way of connecting a client to a server; every test
// body runs over each.
type conduit struct {
	name  string
	plain bool // bare MessagePack-RPC: no deadlines or cancellation on the wire
	dial  func(t *testing.T, s *server.Server, opts ...client.Option) *client.Client
}

var conduits = []conduit{
	{name: "pipe", dial: dialPipe},
	{name: "tcp", dial: dialTCP},
	{name: "tcp-plain", plain: true, dial: func(t *testing.T, s *server.Server, opts ...client.Option) *client.Client {
		return dialTCP(t, s, append(opts, client.WithPlainMsgpackRPC())...)
	}},
}

func dialPipe(t *testing.T, s *server.Server, opts ...client.Option) *client.Client {
	t.Helper()
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); <-done })
	return c
}

func dialTCP(t *testing.T, s *server.Server, opts ...client.Option) *client.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	c, err := client.Dial(t.Context(), l.Addr().String(), opts...)
	require.NoError(t, err)
	t.Cleanup(func() {
		c.Close()
		l.Close()
		<-done
	})
	return c
}

// newServer returns a server with the test services, closed at cleanup.
func newServer(t *testing.T, opts ...server.Option) *server.Server {
	t.Helper()
	s := server.New(opts...)
	require.NoError(t, s.Register(testsvc.Arith{}))
	require.NoError(t, s.Register(testsvc.Echo{}))
	t.Cleanup(func() { s.Close() })
	return s
}

// eachConduit runs body once per transport as subtests.
func eachConduit(t *testing.T, body func(t *testing.T, tr conduit)) {
	for _, tr := range conduits {
		t.Run(tr.name, func(t *testing.T) { body(t, tr) })
	}
}

// blocker is a handler that blocks until its ctx ends, reporting start and
// the moment it saw the end.
type blocker struct {
	started chan struct{}
	ended   chan error
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 1024), ended: make(chan error, 1024)}
}

func (b *blocker) handle(ctx context.Context, _ *struct{}) (*bool, error) {
	b.started <- struct{}{}
	<-ctx.Done()
	b.ended <- ctx.Err()
	return nil, ctx.Err()
}

func fmtV(v any) string { return fmt.Sprintf("%v", v) }
