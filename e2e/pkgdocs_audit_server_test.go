package e2e_test

// The audit of the core packages' docs (see pkgdocs_audit_test.go): the
// server's lifecycle, method table, refusals, peers and hooks, and
// authentication both ways.

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditServeAfterClose checks Serve: it "returns ErrServerClosed
// [after Shutdown or Close] ... l is closed when Serve returns, even when
// the server was already shut down".
func TestAuditServeAfterClose(t *testing.T) {
	for _, stop := range []string{"close", "shutdown"} {
		t.Run(stop, func(t *testing.T) {
			s := server.New()
			if stop == "close" {
				require.NoError(t, s.Close())
			} else {
				require.NoError(t, s.Shutdown(t.Context()))
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			assert.ErrorIs(t, s.Serve(l), server.ErrServerClosed)
			_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second)) // an error once closed
			_, err = l.Accept()
			assert.ErrorIs(t, err, net.ErrClosed, "l is closed")

			// A server stopped while serving returns ErrServerClosed too.
			s2 := server.New()
			l2, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- s2.Serve(l2) }()
			require.Eventually(t, func() bool { return dialable(l2.Addr().String()) }, 5*time.Second, 5*time.Millisecond)
			if stop == "close" {
				require.NoError(t, s2.Close())
			} else {
				require.NoError(t, s2.Shutdown(t.Context()))
			}
			select {
			case err := <-done:
				assert.ErrorIs(t, err, server.ErrServerClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

// dialable reports whether addr accepts a TCP connection now.
func dialable(addr string) bool {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	nc.Close()
	return true
}

// TestAuditServeConnInvalidOption checks New: "An invalid option is
// reported by Serve and ServeConn."
func TestAuditServeConnInvalidOption(t *testing.T) {
	s := server.New(server.WithMaxConcurrentCalls(0))
	t.Cleanup(func() { s.Close() })
	a, b := net.Pipe()
	defer b.Close()
	err := s.ServeConn(a)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "ferry: "), err.Error())
	assert.NotErrorIs(t, err, server.ErrServerClosed)
}

// TestAuditMethodTable checks Methods: "lists the registered methods,
// sorted by name" with Kind "unary" or the stream kind and the message
// types; "a name may be registered once, as one kind" across Handle,
// Register and HandleStream.
func TestAuditMethodTable(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	require.NoError(t, server.Handle(s, "Z.Last", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }))
	require.NoError(t, server.HandleServerStream(s, "A.First", func(ctx context.Context, req *string, send func(*int) error) error { return nil }))
	require.NoError(t, s.RegisterName("M", auditRcvr{}))

	assert.Error(t, server.Handle(s, "Z.Last", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }), "twice")
	assert.Error(t, s.HandleStream("Z.Last", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }), "as another kind")
	assert.Error(t, server.Handle(s, "A.First", func(ctx context.Context, a *string) (*int, error) { return nil, nil }), "a stream's name")
	assert.Error(t, s.RegisterName("M", auditRcvr{}), "a receiver twice")

	ms := s.Methods()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	assert.Equal(t, []string{"A.First", "M.Do", "Z.Last"}, names)
	assert.Equal(t, "server", ms[0].Kind)
	assert.Equal(t, "string", ms[0].Args.String())
	assert.Equal(t, "int", ms[0].Reply.String())
	assert.Equal(t, "unary", ms[1].Kind)
	assert.Equal(t, "int", ms[1].Args.String(), "a net/rpc method's args type")
	assert.Equal(t, "int", ms[1].Reply.String(), "its reply type, not the pointer")
	assert.Equal(t, "unary", ms[2].Kind)
	assert.Equal(t, "e2e_test.auditNums", ms[2].Args.String())
}

// TestAuditWithRefused checks WithRefused: fn is called "for every call
// refused before a handler ran", with "method ... the registered method's
// name, or "" for a name that is not registered", "err is the error sent
// back (notifications get none, but are reported too)", and "Interceptors
// never see these calls".
func TestAuditWithRefused(t *testing.T) {
	type refusal struct {
		method string
		code   ferry.Code
	}
	refused := make(chan refusal, 16)
	var seen atomic.Int32
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "N.Take", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }))
	},
		server.WithRefused(func(method string, err *ferry.Error) {
			refused <- refusal{method, err.Code}
		}),
		server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			seen.Add(1)
			return next(ctx, args)
		}))
	ctx := t.Context()
	next := func() refusal {
		select {
		case r := <-refused:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no refusal reported")
			return refusal{}
		}
	}

	err := c.Call(ctx, "No.Such", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.Equal(t, refusal{"", ferry.CodeUnimplemented}, next())

	err = c.Call(ctx, "N.Take", map[string]any{"I": 3.5}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
	assert.Equal(t, refusal{"N.Take", ferry.CodeInvalidArgument}, next())

	require.NoError(t, c.Notify(ctx, "N.Take", map[string]any{"U": -1}))
	assert.Equal(t, refusal{"N.Take", ferry.CodeInvalidArgument}, next(), "notifications are reported too")

	require.NoError(t, c.Call(ctx, "N.Take", map[string]any{"I": 1}, nil))
	assert.Equal(t, int32(1), seen.Load(), "interceptors never see refused calls")
	assert.Empty(t, refused)

	// Streams too: one for a name not registered, one opened for a unary
	// method.
	for _, name := range []string{"No.Such", "N.Take"} {
		st, err := c.NewStream(ctx, name)
		require.NoError(t, err)
		var v any
		err = st.Recv(&v)
		assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%s: %v", name, err)
		want := ""
		if name == "N.Take" {
			want = name
		}
		assert.Equal(t, refusal{want, ferry.CodeUnimplemented}, next(), "stream %s", name)
		st.Close()
	}
}

// TestAuditWithRefusedLimit checks WithRefused for a call refused "over a
// ... concurrency limit" (CodeResourceExhausted), with the method's name.
func TestAuditWithRefusedLimit(t *testing.T) {
	refused := make(chan string, 16)
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Hold", func(ctx context.Context, _ *struct{}) (*int, error) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}))
	}, server.WithMaxConcurrentCalls(1), server.WithRefused(func(method string, err *ferry.Error) {
		refused <- method + " " + err.Code.String()
	}))
	first := c.Go(t.Context(), "A.Hold", nil, nil)
	<-started
	queued := c.Go(t.Context(), "A.Hold", nil, nil) // waits for the slot: the queue holds 1
	// Sent after the queued one on the same connection, so read after it.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := c.Call(ctx, "A.Hold", nil, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	select {
	case got := <-refused:
		assert.Equal(t, "A.Hold resource_exhausted", got)
	case <-time.After(5 * time.Second):
		t.Fatal("no refusal reported")
	}
	close(release)
	require.NoError(t, first.Wait())
	require.NoError(t, queued.Wait())
}

// TestAuditUnimplementedNotExecuted checks client.WithHandlers' sentence
// that calls to a method not registered "fail as unimplemented, not
// executed" (CodeUnimplemented with NotExecuted true), in both directions,
// and that arguments refused before the handler ran are CodeInvalidArgument.
func TestAuditUnimplementedNotExecuted(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	err := c.Call(t.Context(), "No.Such", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "%v", err)

	require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
	p := <-peers
	err = p.Call(t.Context(), "Client.Nothing", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "%v", err)
}

// TestAuditPeer checks Peer's docs: PeerFromContext "returns ... nil
// outside a handler"; ID is "unique to this peer"; RemoteAddr is the
// client's address; Identity is "nil without authentication"; Err is "nil
// while it is open"; Done "is closed when the connection to the client
// ends", and Err then says why.
func TestAuditPeer(t *testing.T) {
	assert.Nil(t, server.PeerFromContext(context.Background()))
	assert.Nil(t, client.ConnFromContext(context.Background()))
	peers := make(chan *server.Peer, 2)
	s := server.New()
	require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
		peers <- server.PeerFromContext(ctx)
		return nil, nil
	}))
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()

	var locals []string
	var ps []*server.Peer
	for range 2 {
		nc, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		locals = append(locals, nc.LocalAddr().String())
		c, err := client.New(nc)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
		ps = append(ps, <-peers)
		require.NotNil(t, ps[len(ps)-1])
		if len(ps) == 1 {
			require.NoError(t, c.Close())
		}
	}
	assert.NotEqual(t, ps[0].ID(), ps[1].ID())
	assert.Equal(t, locals[0], ps[0].RemoteAddr().String())
	assert.Equal(t, locals[1], ps[1].RemoteAddr().String())
	assert.Nil(t, ps[1].Identity())
	assert.NoError(t, ps[1].Err())
	select {
	case <-ps[0].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the client closed")
	}
	assert.Error(t, ps[0].Err())
}

// TestAuditConns checks ConnInfo: Protocol is "session" (Ferry) or
// "msgpack-rpc" (bare), Since "when it was accepted", RemoteAddr the
// client's address.
func TestAuditConns(t *testing.T) {
	s := server.New()
	require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	before := time.Now()
	want := map[string]string{}
	for _, plain := range []bool{false, true} {
		nc, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		var opts []client.Option
		proto := "session"
		if plain {
			opts = append(opts, client.WithPlainMsgpackRPC())
			proto = "msgpack-rpc"
		}
		want[nc.LocalAddr().String()] = proto
		c, err := client.New(nc, opts...)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	}
	got := map[string]string{}
	for _, ci := range s.Conns() {
		got[ci.RemoteAddr.String()] = ci.Protocol
		assert.False(t, ci.Since.Before(before.Add(-time.Second)), "Since")
		assert.False(t, ci.Since.After(time.Now()))
	}
	assert.Equal(t, want, got)
}

// TestAuditGoingAway checks Client.GoingAway: "closed when the server
// announces that it is shutting down: calls started from then on fail at
// once with CodeUnavailable and ferry.NotExecuted true, while each call
// already sent is answered"; and Shutdown "waits for running handlers".
func TestAuditGoingAway(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Slow", func(ctx context.Context, _ *struct{}) (*int, error) {
			started <- struct{}{}
			<-release
			n := 9
			return &n, nil
		}))
	})
	var n int
	call := c.Go(t.Context(), "A.Slow", nil, &n)
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(t.Context()) }()
	select {
	case <-c.GoingAway():
	case <-time.After(5 * time.Second):
		t.Fatal("GoingAway not closed during Shutdown")
	}
	err := c.Call(t.Context(), "A.Slow", nil, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a handler running", err)
	default:
	}
	close(release)
	require.NoError(t, call.Wait(), "the call already sent is answered")
	assert.Equal(t, 9, n)
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

// TestAuditServerClose checks Close: "running handlers see their contexts
// canceled. It returns after every goroutine the server started has
// exited"; the caller's call fails.
func TestAuditServerClose(t *testing.T) {
	started := make(chan struct{}, 1)
	var exited atomic.Bool
	s, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Block", func(ctx context.Context, _ *struct{}) (*int, error) {
			started <- struct{}{}
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // work after the cancel that Close must wait for
			exited.Store(true)
			return nil, ctx.Err()
		}))
	})
	call := c.Go(t.Context(), "A.Block", nil, nil)
	<-started
	require.NoError(t, s.Close())
	assert.True(t, exited.Load(), "Close returned before the handler exited")
	select {
	case <-call.Done():
		assert.Error(t, call.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not fail after Close")
	}
}

// TestAuditAuthErrors checks WithAuth: "if fn fails, the client's Dial
// fails with fn's error" (its code and message), handlers find "the
// identity fn returned with ferry.IdentityFromContext", and Peer.Identity
// is the same; and client.WithServerAuth: "If fn fails, Dial fails with
// CodeUnauthenticated (or fn's code) and ferry.NotExecuted true", "The
// identity fn returns is what the client's handlers find".
func TestAuditAuthErrors(t *testing.T) {
	identities := make(chan [2]any, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Who", func(ctx context.Context, _ *struct{}) (*int, error) {
			identities <- [2]any{ferry.IdentityFromContext(ctx), server.PeerFromContext(ctx).Identity()}
			return nil, nil
		}))
	}, server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		switch info.Token {
		case "good":
			return "alice", nil
		case "denied":
			return nil, ferry.NewError(ferry.CodePermissionDenied, "banned")
		}
		return nil, errors.New("who are you")
	}))
	c, err := client.Dial(t.Context(), addr, client.WithToken("good"))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "A.Who", nil, nil))
	assert.Equal(t, [2]any{"alice", "alice"}, <-identities)

	_, err = client.Dial(t.Context(), addr, client.WithToken("denied"))
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "fn's error: %v", err)
	assert.Contains(t, err.Error(), "banned")
	_, err = client.Dial(t.Context(), addr, client.WithToken("bad"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "who are you", "fn's error")

	// The client checks the server.
	serverIDs := make(chan any, 1)
	_, err = client.Dial(t.Context(), addr, client.WithToken("good"),
		client.WithServerAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
			return nil, errors.New("not my server")
		}))
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	_, err = client.Dial(t.Context(), addr, client.WithToken("good"),
		client.WithServerAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
			return nil, ferry.NewError(ferry.CodePermissionDenied, "wrong server")
		}))
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "fn's code: %v", err)
	assert.True(t, ferry.NotExecuted(err))

	peers := make(chan *server.Peer, 1)
	_, addr2 := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	c2, err := client.Dial(t.Context(), addr2,
		client.WithServerAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
			assert.Empty(t, info.Token)
			assert.Equal(t, addr2, info.RemoteAddr.String())
			return "the-server", nil
		}),
		client.WithHandlers(func(c *client.Client) error {
			return client.Handle(c, "C.Who", func(ctx context.Context, _ *struct{}) (*int, error) {
				serverIDs <- ferry.IdentityFromContext(ctx)
				return nil, nil
			})
		}))
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, c2.Call(t.Context(), "P.Hello", nil, nil))
	require.NoError(t, (<-peers).Call(t.Context(), "C.Who", nil, nil))
	assert.Equal(t, "the-server", <-serverIDs)
}

// TestAuditKeptPeerAfterDisconnect checks Peer: "A Peer may be kept and
// used after the handler that found it returns, until Done is closed";
// afterwards its calls fail, never written (NotExecuted), as *Error.
func TestAuditKeptPeerAfterDisconnect(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	// The session ends a moment after Done: try it a few times.
	for range 20 {
		c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
			return client.Handle(c, "C.Ping", func(ctx context.Context, _ *struct{}) (*string, error) {
				s := "pong"
				return &s, nil
			})
		}))
		require.NoError(t, err)
		require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
		p := <-peers
		var s string
		require.NoError(t, p.Call(t.Context(), "C.Ping", nil, &s), "after the handler returned")
		assert.Equal(t, "pong", s)
		require.NoError(t, c.Close())
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
		err = p.Call(t.Context(), "C.Ping", nil, &s)
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		require.True(t, ferry.NotExecuted(err), "%v", err)
		require.Error(t, p.Notify(t.Context(), "C.Ping", nil))
		_, err = p.NewStream(t.Context(), "C.Ping")
		require.Error(t, err)
		require.True(t, ferry.NotExecuted(err), "%v", err)
	}
}

// TestAuditConnHooks checks WithConnHooks: "either may be nil. onConnect
// runs in its own goroutine per connection while calls are already being
// served"; "onDisconnect runs once the connection has ended"; for bare
// MessagePack-RPC clients too, whose Peer "has no streams:
// CodeUnimplemented at once"; and ConnInfo.Running counts "handlers
// running for it".
func TestAuditConnHooks(t *testing.T) {
	for _, hooks := range [][2]func(*server.Peer){{nil, nil}, {func(*server.Peer) {}, nil}, {nil, func(*server.Peer) {}}} {
		_, c := auditServer(t, func(s *server.Server) {
			require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
		}, server.WithConnHooks(hooks[0], hooks[1]))
		require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	}

	connected := make(chan *server.Peer, 2)
	disconnected := make(chan *server.Peer, 2)
	unblock := make(chan struct{})
	defer close(unblock)
	running := make(chan struct{})
	release := make(chan struct{})
	s, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
		require.NoError(t, server.Handle(s, "A.Hold", func(ctx context.Context, _ *struct{}) (*int, error) {
			close(running)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}))
	}, server.WithConnHooks(func(p *server.Peer) {
		connected <- p
		<-unblock // a hook that never returns blocks nothing
	}, func(p *server.Peer) { disconnected <- p }))
	for _, plain := range []bool{false, true} {
		var opts []client.Option
		if plain {
			opts = append(opts, client.WithPlainMsgpackRPC())
		}
		c, err := client.Dial(t.Context(), addr, opts...)
		require.NoError(t, err)
		require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil), "served while onConnect runs")
		var p *server.Peer
		select {
		case p = <-connected:
		case <-time.After(5 * time.Second):
			t.Fatal("onConnect did not run")
		}
		if plain {
			_, err := p.NewStream(t.Context(), "C.Any")
			assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "a bare client has no streams: %v", err)

			call := c.Go(t.Context(), "A.Hold", nil, nil)
			<-running
			running := -1
			for _, ci := range s.Conns() {
				if ci.Protocol == "msgpack-rpc" {
					running = ci.Running
				}
			}
			assert.Equal(t, 1, running)
			close(release)
			require.NoError(t, call.Wait())
		}
		require.NoError(t, c.Close())
		select {
		case gone := <-disconnected:
			assert.Same(t, p, gone)
		case <-time.After(5 * time.Second):
			t.Fatal("onDisconnect did not run")
		}
	}
}

// TestAuditNilHandlers checks that registering a nil handler or receiver
// is an error at registration, never a panic when called: "Register ...
// any other exported method is an error naming it".
func TestAuditNilHandlers(t *testing.T) {
	s := server.New()
	defer s.Close()
	assert.Error(t, server.Handle[struct{}, int](s, "A.Nil", nil))
	assert.Error(t, s.HandleStream("A.NilStream", server.Bidi, nil))
	assert.Error(t, s.HandleStream("A.BadKind", server.StreamKind(0), func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }))
	assert.Error(t, s.Register(nil))
	assert.Error(t, s.Register((*auditRcvr)(nil)), "a nil pointer receiver")
	assert.Error(t, server.Handle(s, "", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }), "an empty name")
	assert.Error(t, server.HandleBidi[int, int](s, "A.NilBidi", nil))
	assert.Error(t, server.HandleServerStream[int, int](s, "A.NilServer", nil))
	assert.Error(t, server.HandleClientStream[int, int](s, "A.NilClient", nil))
	assert.Empty(t, s.Methods())

	// The same on a client, for the calls its server makes.
	_, addr := auditListen(t, func(s *server.Server) {})
	c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
		assert.Error(t, client.Handle[int, int](c, "C.Nil", nil))
		assert.Error(t, client.HandleBidi[int, int](c, "C.NilBidi", nil))
		assert.Error(t, client.HandleServerStream[int, int](c, "C.NilServer", nil))
		assert.Error(t, client.HandleClientStream[int, int](c, "C.NilClient", nil))
		assert.Error(t, c.HandleStream("C.NilStream", ferry.BidiStreaming, nil))
		assert.Error(t, c.Register((*auditRcvr)(nil)))
		return nil
	}))
	require.NoError(t, err)
	c.Close()
}

// TestAuditQueuedCallExpires checks WithMaxConcurrentCalls: queued calls'
// "deadlines keep running: a call whose deadline passes, or whose caller
// cancels it, while it waits never runs"; WithRefused reports it. (The
// canceled case: it is deterministic, the cancel travelling ahead of the
// next call.)
func TestAuditQueuedCallExpires(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	refused := make(chan string, 4)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Hold", func(ctx context.Context, hold *bool) (*int, error) {
			runs.Add(1)
			if *hold {
				started <- struct{}{}
				select {
				case <-release:
				case <-ctx.Done():
				}
			}
			return nil, nil
		}))
	}, server.WithMaxConcurrentCalls(1), server.WithRefused(func(method string, err *ferry.Error) {
		refused <- method + " " + err.Code.String()
	}))
	first := c.Go(t.Context(), "A.Hold", true, nil)
	<-started

	ctx, cancel := context.WithCancel(t.Context())
	queued := c.Go(ctx, "A.Hold", false, nil)
	// The queue holds one: a call sent after the queued one is refused,
	// which also says that the server has read the queued one.
	err := c.Call(t.Context(), "A.Hold", false, nil)
	require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	<-refused
	cancel()
	assert.ErrorIs(t, queued.Wait(), context.Canceled)
	// The canceled call leaves the queue at once, while the first call
	// still holds the slot: it is reported, and its place takes the next
	// call, which runs once the slot comes free.
	select {
	case got := <-refused:
		assert.Equal(t, "A.Hold canceled", got)
	case <-time.After(5 * time.Second):
		t.Fatal("the canceled call was not reported while the first one held the slot")
	}
	next := c.Go(t.Context(), "A.Hold", false, nil)
	select {
	case <-next.Done():
		t.Fatalf("the call after the canceled one ended before the slot came free: %v", next.Err())
	case got := <-refused:
		t.Fatalf("the call after the canceled one was refused: %s", got)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	require.NoError(t, first.Wait())
	require.NoError(t, next.Wait(), "queued in the canceled call's place, it runs once the slot comes free")
	assert.Equal(t, int32(2), runs.Load(), "the canceled call never ran")
}

// TestQueuedCallDeadlineLeavesQueue: WithMaxConcurrentCalls' "a call whose
// deadline passes while it waits never runs, and leaves the queue at
// once": its caller is answered deadline_exceeded, not executed, while the
// slot is still held, and the next call takes its place in the queue.
func TestQueuedCallDeadlineLeavesQueue(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	refused := make(chan string, 4)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Hold", func(ctx context.Context, hold *bool) (*int, error) {
			runs.Add(1)
			if *hold {
				started <- struct{}{}
				<-release
			}
			return nil, nil
		}))
	}, server.WithMaxConcurrentCalls(1), server.WithRefused(func(method string, err *ferry.Error) {
		refused <- method + " " + err.Code.String()
	}))
	first := c.Go(t.Context(), "A.Hold", true, nil)
	<-started
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	err := c.Call(ctx, "A.Hold", false, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// The server gives it up while the slot is still held (the client's
	// own timer may end the call first: wait for the server's report), and
	// the queue has room again for the next call, which is not refused.
	select {
	case got := <-refused:
		assert.Equal(t, "A.Hold deadline_exceeded", got)
	case <-time.After(5 * time.Second):
		t.Fatal("the expired call was not reported while the first one held the slot")
	}
	next := c.Go(t.Context(), "A.Hold", false, nil)
	select {
	case <-next.Done():
		t.Fatalf("the next call ended before the slot came free: %v", next.Err())
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	require.NoError(t, first.Wait())
	require.NoError(t, next.Wait())
	assert.Equal(t, int32(2), runs.Load(), "the expired call never ran")
}
