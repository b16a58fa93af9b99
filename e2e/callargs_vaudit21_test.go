package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vaudit21Callers is a server whose "S.Count" handler counts its runs, a
// client whose "C.Count" handler does too, and the callers that reach
// them: the client, a cluster client of the same server, and the Peer a
// server handler ("S.Back") calls the client back on. back runs fn with
// that Peer inside the handler and returns fn's error.
type vaudit21Callers struct {
	c             *client.Client
	cl            *cluster.Client
	sRuns, cRuns  atomic.Int64
	back          func(t *testing.T, fn func(p *server.Peer) error) error
	peerFn        chan func(p *server.Peer) error
	peerFnResults chan error
}

func newVaudit21Callers(t *testing.T) *vaudit21Callers {
	v := &vaudit21Callers{peerFn: make(chan func(p *server.Peer) error, 1), peerFnResults: make(chan error, 1)}
	s := server.New()
	require.NoError(t, server.Handle(s, "S.Count", func(context.Context, *struct{}) (*int, error) {
		n := int(v.sRuns.Add(1))
		return &n, nil
	}))
	require.NoError(t, server.Handle(s, "S.Back", func(ctx context.Context, _ *struct{}) (*int, error) {
		fn := <-v.peerFn
		v.peerFnResults <- fn(server.PeerFromContext(ctx))
		return nil, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, s.Shutdown(context.Background()))
		<-served
	})
	v.c, err = client.Dial(t.Context(), l.Addr().String(), client.WithHandlers(func(c *client.Client) error {
		return client.Handle(c, "C.Count", func(context.Context, *struct{}) (*int, error) {
			n := int(v.cRuns.Add(1))
			return &n, nil
		})
	}))
	require.NoError(t, err)
	t.Cleanup(func() { v.c.Close() })
	v.cl, err = cluster.New(resolver.Static(l.Addr().String()))
	require.NoError(t, err)
	t.Cleanup(func() { v.cl.Close() })
	v.back = func(t *testing.T, fn func(p *server.Peer) error) error {
		v.peerFn <- fn
		require.NoError(t, v.c.Call(t.Context(), "S.Back", nil, nil))
		return <-v.peerFnResults
	}
	return v
}

// noPanic runs fn and turns a panic into an error, so that one refused
// case does not hide the others.
func noPanic(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panicked: %v", r)
		}
	}()
	return fn()
}

// requireRefused checks that err refuses the call before it was sent:
// CodeInvalidArgument, flagged not executed.
func requireRefused(t *testing.T, what string, err error) {
	t.Helper()
	require.Error(t, err, what)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", what, err)
	assert.True(t, ferry.NotExecuted(err), "%s: not flagged not executed: %v", what, err)
}

// TestVaudit21NonPointerReply: a reply that is neither nil nor a non-nil
// pointer (the docs: "a pointer, or nil to discard it") is refused before
// the call is sent, by Call and Go of a Client, a cluster Client and a
// Peer: CodeInvalidArgument, not executed, and no handler runs. Before,
// the handler ran and the call then failed CodeInternal at the caller.
// A nil reply still discards the result.
func TestVaudit21NonPointerReply(t *testing.T) {
	v := newVaudit21Callers(t)
	ctx := t.Context()
	var nilPtr *int
	for _, reply := range []any{0, struct{}{}, nilPtr} {
		name := fmt.Sprintf("%T", reply)
		requireRefused(t, "Client.Call "+name, v.c.Call(ctx, "S.Count", nil, reply))
		requireRefused(t, "Client.Go "+name, v.c.Go(ctx, "S.Count", nil, reply).Wait())
		requireRefused(t, "cluster Call "+name, v.cl.Call(ctx, "S.Count", nil, reply))
		requireRefused(t, "cluster Go "+name, v.cl.Go(ctx, "S.Count", nil, reply).Wait())
		requireRefused(t, "Peer.Call "+name, v.back(t, func(p *server.Peer) error { return p.Call(ctx, "C.Count", nil, reply) }))
		requireRefused(t, "Peer.Go "+name, v.back(t, func(p *server.Peer) error { return p.Go(ctx, "C.Count", nil, reply).Wait() }))
	}
	assert.Zero(t, v.sRuns.Load(), "the server's handler ran")
	assert.Zero(t, v.cRuns.Load(), "the client's handler ran")

	require.NoError(t, v.c.Call(ctx, "S.Count", nil, nil))
	var n int
	require.NoError(t, v.c.Call(ctx, "S.Count", nil, &n))
	assert.Equal(t, 2, n)
}

// TestVaudit21NilContext: a nil context given to Call, Go, Notify,
// NewStream or a typed stream opener of a Client, a cluster Client or a
// Peer fails at once, CodeInvalidArgument, not executed (nothing sent);
// before, they panicked with a nil dereference (Go "never panics").
func TestVaudit21NilContext(t *testing.T) {
	v := newVaudit21Callers(t)
	var nilCtx context.Context
	ctx := t.Context()
	type opener interface {
		ferry.Caller
		ferry.StreamOpener
	}
	calls := func(c opener, method string) map[string]func() error {
		return map[string]func() error{
			"Call":   func() error { return c.Call(nilCtx, method, nil, nil) },
			"Go":     func() error { return c.Go(nilCtx, method, nil, nil).Wait() },
			"Notify": func() error { return c.Notify(nilCtx, method, nil) },
			"OpenStream": func() error {
				_, err := c.OpenStream(nilCtx, method, ferry.BidiStreaming)
				return err
			},
			"OpenBidi": func() error {
				_, err := client.OpenBidi[int, int](nilCtx, c, method)
				return err
			},
			"OpenServerStream": func() error {
				_, err := client.OpenServerStream[int, int](nilCtx, c, method, new(int))
				return err
			},
		}
	}
	for name, fn := range calls(v.c, "S.Count") {
		requireRefused(t, "Client."+name, noPanic(fn))
	}
	requireRefused(t, "Client.NewStream", noPanic(func() error {
		_, err := v.c.NewStream(nilCtx, "S.Count")
		return err
	}))
	for name, fn := range calls(v.cl, "S.Count") {
		requireRefused(t, "cluster "+name, noPanic(fn))
	}
	requireRefused(t, "cluster NewStream", noPanic(func() error {
		_, err := v.cl.NewStream(nilCtx, "S.Count")
		return err
	}))
	for _, name := range []string{"Call", "Go", "Notify", "OpenStream", "OpenBidi", "OpenServerStream"} {
		requireRefused(t, "Peer."+name, v.back(t, func(p *server.Peer) error {
			return noPanic(calls(p, "C.Count")[name])
		}))
	}
	requireRefused(t, "Peer.NewStream", v.back(t, func(p *server.Peer) error {
		return noPanic(func() error {
			_, err := p.NewStream(nilCtx, "C.Count")
			return err
		})
	}))
	assert.Zero(t, v.sRuns.Load(), "the server's handler ran")
	assert.Zero(t, v.cRuns.Load(), "the client's handler ran")
	require.NoError(t, v.c.Call(ctx, "S.Count", nil, nil), "the connection goes on")
}

// TestVaudit21AuthFuncErrorCode: what the root package's AuthFunc doc
// says of a failing AuthFunc: a Ferry client's Dial fails, not executed,
// with the AuthFunc's code when its error carries one (an *Error, a
// context error) and CodeUnauthenticated for any other error; no handler
// runs. The doc said calls then fail with CodeUnauthenticated, whatever
// the error.
func TestVaudit21AuthFuncErrorCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want ferry.Code
	}{
		{errors.New("bad token"), ferry.CodeUnauthenticated},
		{ferry.NewError(ferry.CodeUnavailable, "the token service is down"), ferry.CodeUnavailable},
		{fmt.Errorf("checking: %w", ferry.NewError(ferry.CodePermissionDenied, "revoked")), ferry.CodePermissionDenied},
		{context.DeadlineExceeded, ferry.CodeDeadlineExceeded},
	} {
		var runs atomic.Int64
		s := server.New(server.WithAuth(func(context.Context, ferry.AuthInfo) (any, error) { return nil, tc.err }))
		require.NoError(t, server.Handle(s, "S.Count", func(context.Context, *struct{}) (*int, error) {
			runs.Add(1)
			return nil, nil
		}))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		served := make(chan error, 1)
		go func() { served <- s.Serve(l) }()
		c, err := client.Dial(t.Context(), l.Addr().String(), client.WithToken("t"))
		if c != nil {
			c.Close()
		}
		require.Error(t, err, "%v", tc.err)
		assert.Equal(t, tc.want, ferry.CodeOf(err), "%v: %v", tc.err, err)
		assert.True(t, ferry.NotExecuted(err), "%v: %v", tc.err, err)
		assert.Zero(t, runs.Load())
		require.NoError(t, s.Shutdown(context.Background()))
		<-served
	}
}
