package e2e_test

// An audit of the core packages' documentation (go doc -all of ferry,
// server, client, codec and transport) as an outside tester reads it:
// each test quotes the sentences it checks, end to end over loopback TCP.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditNums is a handler's arguments with one field of each numeric kind.
type auditNums struct {
	I   int64
	U   uint8
	F   float64
	F32 float32
}

// auditListen starts a server with opts, registers register's methods and
// serves it on a loopback port, returning its address; it closes at
// cleanup.
func auditListen(t *testing.T, register func(s *server.Server), opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s := server.New(opts...)
	register(s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, l.Addr().String()
}

// auditServer is auditListen with a client dialed to the server, closed at
// cleanup.
func auditServer(t *testing.T, register func(s *server.Server), opts ...server.Option) (*server.Server, *client.Client) {
	t.Helper()
	s, addr := auditListen(t, register, opts...)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return s, c
}

// TestAuditCanceledContext checks Caller.Call: "errors.Is(err,
// context.Canceled) hold[s] when ctx ended the call", and NotExecuted: a
// call "never written to any connection" is in the not-executed class, for
// Call, Go and Notify given a context already canceled; no handler runs.
func TestAuditCanceledContext(t *testing.T) {
	var ran atomic.Int32
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Count", func(ctx context.Context, _ *struct{}) (*int, error) {
			ran.Add(1)
			n := 1
			return &n, nil
		}))
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	var n int
	err := c.Call(ctx, "A.Count", nil, &n)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "never written: %v", err)
	var fe *ferry.Error
	assert.ErrorAs(t, err, &fe, "every error a call returns is an *Error")

	call := c.Go(ctx, "A.Count", nil, &n)
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Go with a canceled ctx never completed")
	}
	assert.ErrorIs(t, call.Err(), context.Canceled)
	assert.True(t, ferry.NotExecuted(call.Err()))

	err = c.Notify(ctx, "A.Count", nil)
	assert.ErrorIs(t, err, context.Canceled, "Notify with a canceled ctx")
	assert.True(t, ferry.NotExecuted(err), "a notification never written: %v", err)

	// A call with a live context still works, and the handler never ran
	// for the three above.
	require.NoError(t, c.Call(t.Context(), "A.Count", nil, &n))
	assert.Equal(t, 1, n)
	assert.Equal(t, int32(1), ran.Load())
}

// TestAuditCallsAfterClose checks ErrClosed: "wrapped by the error of
// every call that fails because this side closed its client", for Call,
// Go and Notify after Close; Conn.Done "is closed when the connection
// ends, by Close"; Err "returns why the connection ended, or nil while it
// is open"; such calls were never written (NotExecuted). Close twice does
// not panic.
func TestAuditCallsAfterClose(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.One", func(ctx context.Context, _ *struct{}) (*int, error) {
			n := 1
			return &n, nil
		}))
	})
	assert.NoError(t, c.Err(), "nil while open")
	select {
	case <-c.Done():
		t.Fatal("Done closed while open")
	default:
	}
	require.NoError(t, c.Close())
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	assert.Error(t, c.Err())

	var n int
	err := c.Call(t.Context(), "A.One", nil, &n)
	assert.ErrorIs(t, err, ferry.ErrClosed)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	call := c.Go(t.Context(), "A.One", nil, &n)
	<-call.Done()
	assert.ErrorIs(t, call.Err(), ferry.ErrClosed)
	assert.ErrorIs(t, c.Notify(t.Context(), "A.One", nil), ferry.ErrClosed)
	_, err = c.NewStream(t.Context(), "A.One")
	assert.ErrorIs(t, err, ferry.ErrClosed, "a stream is a call too")
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.NotPanics(t, func() { _ = c.Close() })
}

// TestAuditNewOwnsConn checks client.New: "The client owns conn and
// closes it on Close."
func TestAuditNewOwnsConn(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	c, err := client.New(nc)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = nc.Write([]byte{0})
	assert.ErrorIs(t, err, net.ErrClosed, "conn closed by Close")
}

// TestAuditHandlerResults checks Error's doc: "A handler's *Error reaches
// the caller with its code, message and details intact; any other handler
// error arrives as CodeUnknown carrying its message"; Details is "nil when
// none"; CodeInternal is what "a handler panicked, a reply failed to
// encode" get; and errors.Is(err, context.DeadlineExceeded) "holds for a
// deadline that passed on either side".
func TestAuditHandlerResults(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "H.Detailed", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, ferry.NewError(ferry.CodeNotFound, "no such item").WithDetail("item", "7")
		}))
		require.NoError(t, server.Handle(s, "H.Bare", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, ferry.NewError(ferry.CodeAborted, "conflict")
		}))
		require.NoError(t, server.Handle(s, "H.Plain", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, errors.New("disk full")
		}))
		require.NoError(t, server.Handle(s, "H.Panic", func(ctx context.Context, _ *struct{}) (*int, error) {
			panic("boom")
		}))
		require.NoError(t, server.Handle(s, "H.BadReply", func(ctx context.Context, _ *struct{}) (*chan int, error) {
			ch := make(chan int)
			return &ch, nil
		}))
		require.NoError(t, server.Handle(s, "H.ServerDeadline", func(ctx context.Context, _ *struct{}) (*int, error) {
			inner, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			<-inner.Done()
			return nil, inner.Err()
		}))
		require.NoError(t, server.Handle(s, "H.NilReply", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, nil
		}))
	})
	ctx := t.Context()

	err := c.Call(ctx, "H.Detailed", nil, nil)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeNotFound, fe.Code)
	assert.Equal(t, "no such item", fe.Message)
	assert.Equal(t, map[string]string{"item": "7"}, fe.Details)
	assert.False(t, ferry.NotExecuted(err), "the handler ran")

	err = c.Call(ctx, "H.Bare", nil, nil)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeAborted, fe.Code)
	assert.Nil(t, fe.Details, "Details: nil when none")

	err = c.Call(ctx, "H.Plain", nil, nil)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeUnknown, fe.Code)
	assert.Contains(t, fe.Message, "disk full")

	err = c.Call(ctx, "H.Panic", nil, nil)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err), "a handler that panicked ran")

	err = c.Call(ctx, "H.BadReply", nil, nil)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)

	err = c.Call(ctx, "H.ServerDeadline", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))

	n := 5
	require.NoError(t, c.Call(ctx, "H.NilReply", nil, &n), "a nil *Resp is msgpack nil")
	assert.Equal(t, 0, n, "nil leaves the zero value")

	// The connection still serves after all of these.
	require.NoError(t, c.Call(ctx, "H.NilReply", nil, nil))
}

// TestAuditCallArgumentShapes checks that Call "never panics" on odd
// arguments: a reply that is not a pointer and arguments that cannot be
// encoded are errors (Go "never panics"), reply nil discards the result.
func TestAuditCallArgumentShapes(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Seven", func(ctx context.Context, _ *struct{}) (*int, error) {
			n := 7
			return &n, nil
		}))
	})
	ctx := t.Context()
	require.NoError(t, c.Call(ctx, "A.Seven", nil, nil), "reply nil discards the result")

	var n int
	assert.NotPanics(t, func() {
		err := c.Call(ctx, "A.Seven", nil, n)
		assert.Error(t, err, "a reply that is not a pointer")
	})
	assert.NotPanics(t, func() {
		call := c.Go(ctx, "A.Seven", make(chan int), &n)
		<-call.Done()
		assert.Error(t, call.Err(), "arguments that cannot be encoded")
		assert.True(t, ferry.NotExecuted(call.Err()), "never sent: %v", call.Err())
	})
	assert.NotPanics(t, func() {
		assert.Error(t, c.Notify(ctx, "A.Seven", make(chan int)))
	})
	require.NoError(t, c.Call(ctx, "A.Seven", nil, &n))
	assert.Equal(t, 7, n)
}

// TestAuditCallHandle checks ferry.Call: "Err returns the call's error
// once Done is closed (nil on success, and nil before); Wait blocks until
// the call completes and returns its error", with "any number of
// goroutines" waiting on Done.
func TestAuditCallHandle(t *testing.T) {
	release := make(chan struct{})
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Wait", func(ctx context.Context, _ *struct{}) (*int, error) {
			<-release
			return nil, ferry.NewError(ferry.CodeAborted, "done")
		}))
	})
	call := c.Go(t.Context(), "A.Wait", nil, nil)
	assert.NoError(t, call.Err(), "nil before Done")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { <-call.Done() })
	}
	close(release)
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(call.Wait()))
	wg.Wait()
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(call.Err()))
	assert.Equal(t, "A.Wait", call.Method)
}

// auditRcvr is a net/rpc-style receiver with one method.
type auditRcvr struct{}

// Do doubles its argument.
func (auditRcvr) Do(n int, reply *int) error { *reply = 2 * n; return nil }

// TestAuditDialContext checks Dial: "ctx bounds the dial and the session
// handshake", against a listener that accepts and never answers; and
// only those: a client whose dial ctx ends afterwards keeps working.
func TestAuditDialContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	held := make(chan net.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err == nil {
			held <- nc
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(ctx, l.Addr().String())
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Nil(t, c)
	assert.Less(t, elapsed, 3*time.Second, "ctx bounds the handshake")
	select {
	case nc := <-held:
		nc.Close()
	default:
	}

	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	})
	dctx, dcancel := context.WithCancel(t.Context())
	c, err = client.Dial(dctx, addr)
	require.NoError(t, err)
	defer c.Close()
	dcancel()
	require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil), "the dial's ctx ended after Dial")
	assert.NoError(t, c.Err())
}

// TestAuditWithHandlersOrderAndError checks WithHandlers: "An error from
// register fails Dial, and the connection is closed. Several WithHandlers
// run in order."
func TestAuditWithHandlersOrderAndError(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()

	var order []int
	reg := func(i int) client.Option {
		return client.WithHandlers(func(c *client.Client) error { order = append(order, i); return nil })
	}
	c, err := client.Dial(t.Context(), l.Addr().String(), reg(1), reg(2), reg(3))
	require.NoError(t, err)
	c.Close()
	assert.Equal(t, []int{1, 2, 3}, order)

	boom := errors.New("cannot register")
	c, err = client.Dial(t.Context(), l.Addr().String(), client.WithHandlers(func(*client.Client) error { return boom }))
	require.Error(t, err)
	assert.Nil(t, c)
	assert.ErrorIs(t, err, boom)
	require.Eventually(t, func() bool { return len(s.Conns()) == 0 }, 5*time.Second, 5*time.Millisecond,
		"the connection is closed")
}

// TestAuditCallInfo checks CallInfo: Notify is "true for a one-way
// notification"; Received is set on the serving side and "zero on the
// calling side"; MarkNotExecuted's flag "crosses the wire" when a server
// interceptor refuses a call it did not run.
func TestAuditCallInfo(t *testing.T) {
	infos := make(chan ferry.CallInfo, 4)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
		require.NoError(t, server.Handle(s, "A.Limited", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	}, server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "A.Limited" {
			return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "rate limited"))
		}
		infos <- *info
		return next(ctx, args)
	}))
	calling := make(chan ferry.CallInfo, 1)
	c, err := client.Dial(t.Context(), addr, client.WithInterceptors(
		func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			if !info.Notify {
				calling <- *info
			}
			return next(ctx, info, args, reply)
		}))
	require.NoError(t, err)
	defer c.Close()
	before := time.Now()
	require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	ci := <-infos
	assert.Equal(t, "A.Nop", ci.Method)
	assert.False(t, ci.Notify)
	assert.False(t, ci.Received.Before(before))
	require.NoError(t, c.Notify(t.Context(), "A.Nop", nil))
	ci = <-infos
	assert.True(t, ci.Notify)

	ci = <-calling
	assert.Equal(t, "A.Nop", ci.Method)
	assert.True(t, ci.Received.IsZero(), "zero on the calling side")

	err = c.Call(t.Context(), "A.Limited", nil, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "the flag crosses the wire")
}

// TestAuditMetadataNotForwarded checks IncomingMetadata: "Incoming
// metadata is not forwarded on calls a handler makes: copy it with
// WithOutgoingMetadata to propagate"; and OutgoingMetadata: "After
// AppendOutgoingMetadata it is a new map on every call".
func TestAuditMetadataNotForwarded(t *testing.T) {
	seen := make(chan ferry.Metadata, 2)
	_, backAddr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "B.Look", func(ctx context.Context, _ *struct{}) (*int, error) {
			seen <- ferry.IncomingMetadata(ctx)
			return nil, nil
		}))
	})
	back, err := client.Dial(t.Context(), backAddr)
	require.NoError(t, err)
	defer back.Close()
	_, front := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "F.Relay", func(ctx context.Context, propagate *bool) (*int, error) {
			if *propagate {
				ctx = ferry.WithOutgoingMetadata(ctx, ferry.IncomingMetadata(ctx))
			}
			return nil, back.Call(ctx, "B.Look", nil, nil)
		}))
	})
	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"tenant": "t1"})
	require.NoError(t, front.Call(ctx, "F.Relay", false, nil))
	assert.Empty(t, <-seen, "not forwarded")
	require.NoError(t, front.Call(ctx, "F.Relay", true, nil))
	assert.Equal(t, "t1", (<-seen)["tenant"], "propagated when copied")

	actx := ferry.AppendOutgoingMetadata(ctx, "k", "v")
	m1 := ferry.OutgoingMetadata(actx)
	m1["k"] = "changed"
	m2 := ferry.OutgoingMetadata(actx)
	assert.Equal(t, ferry.Metadata{"tenant": "t1", "k": "v"}, m2, "a new map on every call")
}

// TestAuditPlainDeadlineIsLocal checks WithPlainMsgpackRPC: "Deadlines
// then bound only the local wait": the call returns at its deadline with
// CodeDeadlineExceeded while the handler runs on.
func TestAuditPlainDeadlineIsLocal(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan error, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Slow", func(ctx context.Context, _ *struct{}) (*int, error) {
			<-release
			finished <- ctx.Err()
			return nil, nil
		}))
	})
	c, err := client.Dial(t.Context(), addr, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Call(ctx, "A.Slow", nil, nil)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
	assert.NoError(t, <-finished, "the handler's context knew no deadline")
}

// TestAuditInterceptorOptionsAppend checks WithInterceptors on both
// sides: it "appends" ("the first is outermost"), so two options add up.
func TestAuditInterceptorOptionsAppend(t *testing.T) {
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	si := func(name string) ferry.ServerInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			note(name)
			return next(ctx, args)
		}
	}
	ci := func(name string) ferry.ClientInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			note(name)
			return next(ctx, info, args, reply)
		}
	}
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) {
			note("handler")
			return nil, nil
		}))
	}, server.WithInterceptors(si("s1"), si("s2")), server.WithInterceptors(si("s3")))
	c, err := client.Dial(t.Context(), addr, client.WithInterceptors(ci("c1")), client.WithInterceptors(ci("c2"), ci("c3")))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	assert.Equal(t, []string{"c1", "c2", "c3", "s1", "s2", "s3", "handler"}, order)
}

// TestAuditCallFieldsAndInPlaceBytes checks ferry.Call: "its fields Method,
// Args and Reply say what was called"; and Caller.Call: "A *[]byte reply
// whose slice has the capacity is filled in place".
func TestAuditCallFieldsAndInPlaceBytes(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "B.Bytes", func(ctx context.Context, n *int) (*[]byte, error) {
			b := make([]byte, *n)
			for i := range b {
				b[i] = byte(i)
			}
			return &b, nil
		}))
	})
	args := 100
	buf := make([]byte, 0, 4096)
	call := c.Go(t.Context(), "B.Bytes", &args, &buf)
	require.NoError(t, call.Wait())
	assert.Equal(t, "B.Bytes", call.Method)
	assert.Same(t, &args, call.Args)
	assert.Same(t, &buf, call.Reply)
	require.Len(t, buf, 100)
	assert.Equal(t, byte(99), buf[99])
	assert.Equal(t, 4096, cap(buf), "filled in place")

	whole := buf[:cap(buf)]
	args = 3000
	require.NoError(t, c.Call(t.Context(), "B.Bytes", &args, &buf))
	require.Len(t, buf, 3000)
	assert.Same(t, &whole[0], &buf[0], "the same array")
}

// TestAuditEveryErrorIsAnError checks the root package doc: "Every error
// a call returns is an *Error with a Code", for failures that happen on
// the calling side: a reply that is not a pointer, arguments that cannot
// be encoded, a reply that does not fit its target, a closed client.
func TestAuditEveryErrorIsAnError(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Text", func(ctx context.Context, _ *struct{}) (*string, error) {
			s := "text"
			return &s, nil
		}))
	})
	ctx := t.Context()
	var n int
	for name, err := range map[string]error{
		"reply not a pointer":  c.Call(ctx, "A.Text", nil, n),
		"args not encodable":   c.Call(ctx, "A.Text", make(chan int), nil),
		"reply does not fit":   c.Call(ctx, "A.Text", nil, &n),
		"notify not encodable": c.Notify(ctx, "A.Text", func() {}),
	} {
		var fe *ferry.Error
		if assert.ErrorAs(t, err, &fe, name) {
			assert.True(t, fe.Code.Valid(), "%s: %v", name, err)
		}
	}
	require.NoError(t, c.Close())
	var fe *ferry.Error
	assert.ErrorAs(t, c.Call(ctx, "A.Text", nil, nil), &fe, "closed")
}

// TestAuditLoggerDefaultSilent checks WithLogger: "sends the server's and
// the transport's log lines to l. Default: silent": a handler panic (which
// Ferry logs) writes nothing to slog's or log's default output without the
// option, and reaches l with it.
func TestAuditLoggerDefaultSilent(t *testing.T) {
	var defaults bytes.Buffer
	var dmu sync.Mutex
	dw := &lockedWriter{w: &defaults, mu: &dmu}
	oldSlog := slog.Default()
	oldLog := log.Writer()
	slog.SetDefault(slog.New(slog.NewTextHandler(dw, nil)))
	log.SetOutput(dw)
	t.Cleanup(func() {
		slog.SetDefault(oldSlog)
		log.SetOutput(oldLog)
	})
	panicky := func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Panic", func(ctx context.Context, _ *struct{}) (*int, error) { panic("boom") }))
	}

	srv, c := auditServer(t, panicky)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(c.Call(t.Context(), "A.Panic", nil, nil)))
	require.NoError(t, c.Close())
	require.NoError(t, srv.Close())

	var mine bytes.Buffer
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(&lockedWriter{w: &mine, mu: &mu}, nil))
	_, c = auditServer(t, panicky, server.WithLogger(l))
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(c.Call(t.Context(), "A.Panic", nil, nil)))
	mu.Lock()
	assert.Contains(t, mine.String(), "panic")
	mu.Unlock()
	dmu.Lock()
	defer dmu.Unlock()
	assert.Empty(t, defaults.String(), "nothing on the default loggers")
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

// Write writes p to w under the lock.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAuditGoInterceptorPanic checks Go: it "never panics and never drops
// a result", also when a client interceptor panics in the goroutine Go
// runs the interceptors in: the call fails with CodeInternal and the
// process lives on.
func TestAuditGoInterceptorPanic(t *testing.T) {
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	})
	c, err := client.Dial(t.Context(), addr, client.WithInterceptors(
		func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			if info.Method == "A.Boom" {
				panic("interceptor bug")
			}
			return next(ctx, info, args, reply)
		}))
	require.NoError(t, err)
	defer c.Close()
	call := c.Go(t.Context(), "A.Boom", nil, nil)
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call never completed")
	}
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(call.Err()), "%v", call.Err())
	_, err = client.Async[int](t.Context(), c, "A.Boom", nil).Wait()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err))
	require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil), "the client still works")
}

// TestAuditMetadataCaseSensitive checks Metadata: "Keys are
// case-sensitive", across the wire, for a call and a notification, and
// IncomingMetadataValue reads one key.
func TestAuditMetadataCaseSensitive(t *testing.T) {
	seen := make(chan ferry.Metadata, 2)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "M.Look", func(ctx context.Context, _ *struct{}) (*string, error) {
			seen <- ferry.IncomingMetadata(ctx)
			v, _ := ferry.IncomingMetadataValue(ctx, "Key")
			return &v, nil
		}))
	})
	md := ferry.Metadata{"Key": "upper", "key": "lower"}
	ctx := ferry.WithOutgoingMetadata(t.Context(), md)
	var v string
	require.NoError(t, c.Call(ctx, "M.Look", nil, &v))
	assert.Equal(t, "upper", v)
	assert.Equal(t, md, <-seen)
	require.NoError(t, c.Notify(ctx, "M.Look", nil))
	assert.Equal(t, md, <-seen)
}
