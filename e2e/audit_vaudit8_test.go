package e2e_test

// The tests in this file check what the docs promise about time bounds,
// writes and drains (PROTOCOL.md 4, 5, 6 and 8; SECURITY.md's bounds;
// transport.Config; server and client Stream.Send, Close and Shutdown)
// where the earlier audits left no test: a Send blocked on a full window
// that its context or Close ends, the handler's Send bounded the same
// way, a peer that stops reading its socket, and an open the peer never
// acknowledges.

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// audit8Slack is how late, past the moment a bound allows, an event may
// come on a machine shared with other tests.
const audit8Slack = 1500 * time.Millisecond

// audit8LongWrites is a configuration whose WriteTimeout (5 s) is far
// past any bound a test below checks, so that a write that timed out
// cannot pass for what the test expects.
func audit8LongWrites() transport.Config {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 5 * time.Second
	return cfg
}

// blockedSend streams 16 KiB messages with send, on a goroutine, until
// Send blocks on the peer's full window (stalled), and returns the
// channel on which the result of the Send that ends the loop arrives.
// The loop is bounded (64 MiB).
func blockedSend(t *testing.T, send func(*[]byte) error, window int) <-chan error {
	t.Helper()
	var sent atomic.Int64
	res := make(chan error, 1)
	go func() {
		m := make([]byte, 16<<10)
		for range 4096 {
			if err := send(&m); err != nil {
				res <- err
				return
			}
			sent.Add(1)
		}
		res <- nil
	}()
	stalled(t, &sent, res, window)
	return res
}

// stalled returns once a sender of 16 KiB messages, which counts them in
// sent, has passed the window's worth of them (less a margin) and then
// sent none for 50 ms: it blocks on the peer's full window. It fails t
// if something arrives on res (the sender ended) first.
func stalled[T any](t *testing.T, sent *atomic.Int64, res <-chan T, window int) {
	t.Helper()
	require.Eventually(t, func() bool {
		require.Empty(t, res, "the sender ended before it blocked")
		return sent.Load() >= int64(window/(16<<10)-8)
	}, 5*time.Second, time.Millisecond, "the sender fills the window")
	last, still := sent.Load(), time.Now()
	require.Eventually(t, func() bool {
		require.Empty(t, res, "the sender ended before it blocked")
		if n := sent.Load(); n != last {
			last, still = n, time.Now()
		}
		return time.Since(still) > 50*time.Millisecond
	}, 5*time.Second, 5*time.Millisecond, "Send blocks once the window is full")
}

// within returns what arrives on ch within d, or fails t.
func within[T any](t *testing.T, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s: nothing within %v", what, d)
		var zero T
		return zero
	}
}

// sinkEnds is a streaming handler's report: its context's error once it
// ended.
type sinkEnds chan error

// audit8Opener opens a stream whose peer handler ("Sink.Ignore") never
// receives and reports its context's end on the sinkEnds; the window is
// the handler side's StreamWindow.
type audit8Opener func(t *testing.T, ctx context.Context) (*client.BidiStream[[]byte, []byte], sinkEnds)

// audit8Openers are the two calling sides: a client opening a stream to
// its server, and a server opening one (through a Peer) to its client.
// Both ends run with audit8LongWrites.
func audit8Openers() map[string]audit8Opener {
	return map[string]audit8Opener{
		"client": func(t *testing.T, ctx context.Context) (*client.BidiStream[[]byte, []byte], sinkEnds) {
			ended := make(sinkEnds, 1)
			s := newServer(t, server.WithConfig(audit8LongWrites()))
			require.NoError(t, server.HandleBidi(s, "Sink.Ignore", func(ctx context.Context, st *server.BidiStream[[]byte, []byte]) error {
				<-ctx.Done()
				ended <- ctx.Err()
				return ctx.Err()
			}))
			c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(audit8LongWrites()))
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			st, err := client.OpenBidi[[]byte, []byte](ctx, c, "Sink.Ignore")
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st, ended
		},
		"server": func(t *testing.T, ctx context.Context) (*client.BidiStream[[]byte, []byte], sinkEnds) {
			ended := make(sinkEnds, 1)
			s, peers := peerServer(t, server.WithConfig(audit8LongWrites()))
			c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(audit8LongWrites()))
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			require.NoError(t, client.HandleBidi(c, "Sink.Ignore", func(ctx context.Context, recv func() (*[]byte, error), send func(*[]byte) error) error {
				<-ctx.Done()
				ended <- ctx.Err()
				return ctx.Err()
			}))
			p := within(t, peers, 5*time.Second, "the connect hook")
			st, err := client.OpenBidi[[]byte, []byte](ctx, p, "Sink.Ignore")
			require.NoError(t, err)
			t.Cleanup(func() { st.Close() })
			return st, ended
		},
	}
}

// TestAudit8BlockedSendEndsWithItsContext checks client.Stream's contract
// for a Send blocked on a full window, on both calling sides (a client's
// stream, and one a server opens through a Peer), with a WriteTimeout
// far away: "when ctx's deadline passes, Send and Recv return
// CodeDeadlineExceeded and the handler's context reports
// context.DeadlineExceeded; when ctx is canceled, CodeCanceled"; and
// Close "cancelling the call if it has not finished: Send and Recv, those
// in flight included, then return CodeCanceled wrapping ferry.ErrClosed".
// None of them may come out as the write timeout ("stream write timed
// out", CodeUnavailable), nor wait for it.
func TestAudit8BlockedSendEndsWithItsContext(t *testing.T) {
	window := int(transport.DefaultConfig().StreamWindow)
	for side, open := range audit8Openers() {
		t.Run(side+"/deadline", func(t *testing.T) {
			const d = 600 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), d)
			defer cancel()
			dl, _ := ctx.Deadline()
			st, ended := open(t, ctx)
			res := blockedSend(t, st.Send, window)
			err := within(t, res, time.Until(dl)+audit8Slack, "the blocked Send after the deadline")
			t.Logf("Send returned %v after the deadline: %v", time.Since(dl), err)
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			assert.NotContains(t, fmtV(err), "write timed out")
			assert.False(t, ferry.NotExecuted(err), "the handler was running")
			assert.ErrorIs(t, within(t, ended, 5*time.Second, "the handler's end"), context.DeadlineExceeded, "the handler's context")
			_, err = st.Recv()
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "Recv after it: %v", err)
		})
		t.Run(side+"/cancel", func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			st, ended := open(t, ctx)
			res := blockedSend(t, st.Send, window)
			cancel()
			err := within(t, res, audit8Slack, "the blocked Send after cancel")
			assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
			assert.ErrorIs(t, err, context.Canceled)
			assert.NotContains(t, fmtV(err), "write timed out")
			assert.ErrorIs(t, within(t, ended, 5*time.Second, "the handler's end"), context.Canceled, "the handler's context")
		})
		t.Run(side+"/close", func(t *testing.T) {
			st, ended := open(t, t.Context())
			res := blockedSend(t, st.Send, window)
			require.NoError(t, st.Close())
			err := within(t, res, audit8Slack, "the blocked Send after Close")
			assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
			assert.ErrorIs(t, err, ferry.ErrClosed)
			assert.NotContains(t, fmtV(err), "write timed out")
			assert.ErrorIs(t, within(t, ended, 5*time.Second, "the handler's end"), context.Canceled, "the handler's context")
			m := []byte("x")
			err = st.Send(&m)
			assert.ErrorIs(t, err, ferry.ErrClosed, "Send after Close: %v", err)
		})
		t.Run(side+"/deadline-then-close", func(t *testing.T) {
			// "(the context's error if it ended first)": the deadline
			// passes while the application uses the stream not at all.
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			st, ended := open(t, ctx)
			assert.ErrorIs(t, within(t, ended, 5*time.Second, "the handler's end"), context.DeadlineExceeded, "the handler's context")
			<-ctx.Done()
			require.NoError(t, st.Close())
			m := []byte("x")
			err := st.Send(&m)
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "Send: %v", err)
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			_, err = st.Recv()
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "Recv: %v", err)
		})
	}
}

// flood is a handler's report: the error of the Send that ended its
// flood, how long that Send took, and its context's error once it ended
// (nil if it had not within 5 s after the Send failed).
type flood struct {
	sendErr error
	took    time.Duration
	ctxErr  error
}

// floodHandler registers "Sink.Flood", which sends 16 KiB messages
// (counted in sent) until Send fails, then waits (at most 5 s) for its
// context to end, and reports on the channel.
func floodHandler(t *testing.T, s *server.Server, sent *atomic.Int64) <-chan flood {
	t.Helper()
	rep := make(chan flood, 1)
	require.NoError(t, server.HandleBidi(s, "Sink.Flood", func(ctx context.Context, st *server.BidiStream[[]byte, []byte]) error {
		var r flood
		m := make([]byte, 16<<10)
		for range 4096 { // 64 MiB, far past the caller's window
			t0 := time.Now()
			if r.sendErr = st.Send(&m); r.sendErr != nil {
				r.took = time.Since(t0)
				break
			}
			sent.Add(1)
		}
		select {
		case <-ctx.Done():
			r.ctxErr = ctx.Err()
		case <-time.After(5 * time.Second):
		}
		rep <- r
		return r.sendErr
	}))
	return rep
}

// TestAudit8ServedSendWriteTimeoutEndsTheCall checks server.Stream.Send
// for a caller that stops reading: "It blocks while the caller's
// flow-control window is full [...] for at most WriteTimeout
// (transport.Config), after which it fails with CodeUnavailable ("stream
// write timed out") and the call ends" (and transport.Config.WriteTimeout:
// "on a streaming call's own stream, it ends that call"). The call ends
// for the handler too: its context ends, so that a handler that goes on
// (reading, or waiting for its context) is not left running on a stream
// that can send nothing more; the caller learns that the outcome is
// unknown.
func TestAudit8ServedSendWriteTimeoutEndsTheCall(t *testing.T) {
	cfg := writeTimeoutConfig()
	check := func(t *testing.T, rep <-chan flood, st *client.BidiStream[[]byte, []byte]) {
		r := within(t, rep, 10*time.Second, "the handler's report")
		t.Logf("the handler's Send failed after %v: %v; its context then: %v", r.took, r.sendErr, r.ctxErr)
		checkWriteTimedOut(t, r.sendErr)
		assert.LessOrEqual(t, r.took, cfg.WriteTimeout+audit8Slack, "Send blocks for at most WriteTimeout")
		assert.ErrorIs(t, r.ctxErr, context.Canceled, "the call ended: the handler's context")
		var rerr error
		for range 4096 {
			if _, rerr = st.Recv(); rerr != nil {
				break
			}
		}
		require.Error(t, rerr)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(rerr), "the caller: %v", rerr)
		assert.False(t, ferry.NotExecuted(rerr), "the handler ran: outcome unknown")
	}
	t.Run("server handler", func(t *testing.T) {
		s := newServer(t, server.WithConfig(cfg))
		rep := floodHandler(t, s, new(atomic.Int64))
		c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(cfg))
		require.NoError(t, err)
		defer c.Close()
		st, err := client.OpenBidi[[]byte, []byte](t.Context(), c, "Sink.Flood")
		require.NoError(t, err)
		defer st.Close()
		check(t, rep, st)
	})
	t.Run("client handler", func(t *testing.T) {
		// The same handler served by a client, on a stream its server
		// opens (Peer): the same rules with the roles swapped.
		s, peers := peerServer(t, server.WithConfig(cfg))
		c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(cfg))
		require.NoError(t, err)
		defer c.Close()
		rep := make(chan flood, 1)
		require.NoError(t, client.HandleBidi(c, "Sink.Flood", func(ctx context.Context, recv func() (*[]byte, error), send func(*[]byte) error) error {
			var r flood
			m := make([]byte, 16<<10)
			for range 4096 {
				t0 := time.Now()
				if r.sendErr = send(&m); r.sendErr != nil {
					r.took = time.Since(t0)
					break
				}
			}
			select {
			case <-ctx.Done():
				r.ctxErr = ctx.Err()
			case <-time.After(5 * time.Second):
			}
			rep <- r
			return r.sendErr
		}))
		p := within(t, peers, 5*time.Second, "the connect hook")
		st, err := client.OpenBidi[[]byte, []byte](t.Context(), p, "Sink.Flood")
		require.NoError(t, err)
		defer st.Close()
		check(t, rep, st)
	})
}

// TestAudit8ServedSendEndsWithTheCallersContext checks server.Stream.Send
// when the caller's context ends first (WriteTimeout far away): Send
// "blocks while the caller's flow-control window is full, until ctx ends"
// and then returns the context's code (Stream.Recv's doc: CodeCanceled or
// CodeDeadlineExceeded once ctx ended). The cancel comes while the
// caller's application does not use the stream at all: PROTOCOL.md 6,
// "Cancel", has a Ferry client send $ferry.cancelstream as soon as its
// context ends.
func TestAudit8ServedSendEndsWithTheCallersContext(t *testing.T) {
	for _, tc := range []struct {
		name string
		code ferry.Code
		want error
	}{
		{"deadline", ferry.CodeDeadlineExceeded, context.DeadlineExceeded},
		{"cancel", ferry.CodeCanceled, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer(t, server.WithConfig(audit8LongWrites()))
			var sent atomic.Int64
			rep := floodHandler(t, s, &sent)
			c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(audit8LongWrites()))
			require.NoError(t, err)
			defer c.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
			defer cancel()
			st, err := client.OpenBidi[[]byte, []byte](ctx, c, "Sink.Flood")
			require.NoError(t, err)
			defer st.Close()
			// The handler fills the window at once (1 MiB); its Send then
			// blocks until the caller's context ends.
			stalled(t, &sent, rep, int(audit8LongWrites().StreamWindow))
			if tc.name == "cancel" {
				cancel()
			}
			r := within(t, rep, 10*time.Second, "the handler's report")
			t.Logf("the handler's Send failed after %v: %v", r.took, r.sendErr)
			assert.Equal(t, tc.code, ferry.CodeOf(r.sendErr), "%v", r.sendErr)
			assert.ErrorIs(t, r.sendErr, tc.want)
			assert.NotContains(t, fmtV(r.sendErr), "write timed out")
			assert.ErrorIs(t, r.ctxErr, tc.want, "the handler's context")
			assert.Less(t, r.took, 500*time.Millisecond+audit8Slack, "Send waited for the write timeout")
		})
	}
}

// deafConn is a client's connection that stops reading, for good, once
// deaf is closed: the server's writes then fill the socket buffers and
// stall, as with a peer that stopped reading its socket.
type deafConn struct {
	net.Conn
	deaf   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func (c *deafConn) Read(p []byte) (int, error) {
	select {
	case <-c.deaf:
		<-c.closed
		return 0, net.ErrClosed
	default:
	}
	return c.Conn.Read(p)
}

func (c *deafConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// opaqueListener hands out its connections as plain net.Conns, which
// hide the TCP connection under them: the server cannot set the kernel's
// TCP_USER_TIMEOUT on them (transport.SetUserTimeout), which would break
// a stalled connection on its own on Linux. Only Ferry's own write
// deadlines are then left to do it.
type opaqueListener struct{ net.Listener }

func (l opaqueListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return struct{ net.Conn }{c}, nil
}

// bigReply is what "Big.Get" returns to every call: 1 MiB, written from
// this one slice (server.Handle's replies are not copied).
var bigReply = make([]byte, 1<<20)

// deafSetup serves "Big.Get" (a 1 MiB reply) and "Sink.Hold" (a stream
// that waits for its context) with cfg, and connects a client whose
// reads stop on deaf, with a stream window (64 MiB) that lets the server
// send far more than the socket buffers hold before any window runs
// out. gone is closed when the server has ended the connection.
func deafSetup(t *testing.T, cfg transport.Config) (s *server.Server, c *client.Client, deaf chan struct{}, gone chan struct{}) {
	t.Helper()
	gone = make(chan struct{})
	var once sync.Once
	s = newServer(t, server.WithConfig(cfg), server.WithMemoryBudget(1<<30),
		server.WithConnHooks(nil, func(*server.Peer) { once.Do(func() { close(gone) }) }))
	require.NoError(t, server.Handle(s, "Big.Get", func(context.Context, *struct{}) (*[]byte, error) {
		return &bigReply, nil
	}))
	require.NoError(t, server.HandleBidi(s, "Sink.Hold", func(ctx context.Context, st *server.BidiStream[[]byte, []byte]) error {
		<-ctx.Done()
		return ctx.Err()
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(opaqueListener{l}) }()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	deaf = make(chan struct{})
	ccfg := transport.DefaultConfig()
	ccfg.KeepAliveInterval = 0
	ccfg.StreamWindow = 64 << 20
	ccfg.MemoryBudget = 1 << 30
	c, err = client.New(&deafConn{Conn: nc, deaf: deaf, closed: make(chan struct{})}, client.WithConfig(ccfg))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return s, c, deaf, gone
}

// TestAudit8PeerThatStopsReadingItsSocket checks SECURITY.md's "a peer
// that stops reading: WriteTimeout on every write, session streams
// included (a peer that stops reading its socket loses the connection
// ...)" and transport.Config.WriteTimeout ("a write that cannot finish
// in time breaks what it writes to: the connection, for a write to the
// socket") for a peer that stops reading its socket while granting all
// the window the server wants, so that the server's writes stall in the socket, under the
// session, not in a stream's window. The server's session writes a quiet
// session's frames in yamux's send loop and batches a busy one's
// (transport/coalesce.go): both must give up within about WriteTimeout
// and end the connection, with keepalives off (they would end it too)
// and memory budgets far away.
func TestAudit8PeerThatStopsReadingItsSocket(t *testing.T) {
	for _, busy := range []bool{false, true} {
		name := "quiet"
		if busy {
			name = "busy"
		}
		t.Run(name, func(t *testing.T) {
			cfg := transport.DefaultConfig()
			cfg.WriteTimeout = time.Second
			cfg.KeepAliveInterval = 0
			cfg.MemoryBudget = 1 << 30
			s, c, deaf, gone := deafSetup(t, cfg)
			if busy {
				// More streams than a quiet session has (four).
				for range 6 {
					st, err := client.OpenBidi[[]byte, []byte](t.Context(), c, "Sink.Hold")
					require.NoError(t, err)
					defer st.Close()
				}
				require.Eventually(t, func() bool {
					conns := s.Conns()
					return len(conns) == 1 && conns[0].StreamingCalls == 6
				}, 5*time.Second, time.Millisecond)
			}
			close(deaf)
			t0 := time.Now()
			for range 64 { // 64 MiB of replies, more than the socket buffers take
				c.Go(t.Context(), "Big.Get", struct{}{}, nil)
			}
			within(t, gone, cfg.WriteTimeout+5*time.Second, "the server ends the connection of a peer that stopped reading")
			took := time.Since(t0)
			t.Logf("%s: the server ended the connection %v after the calls were sent (WriteTimeout %v)", name, took, cfg.WriteTimeout)
			// Within about WriteTimeout of the stall, which comes as soon
			// as the socket buffers are full: not after a second
			// timeout (a write in yamux's send loop without a deadline
			// ends only when the session's close gives up on it, twice
			// WriteTimeout after the stall).
			assert.Less(t, took, cfg.WriteTimeout*8/5, "the server took more than about WriteTimeout to give up on the peer")
		})
	}
}

// TestAudit8ShutdownWithAPeerThatStopsReading checks server.Shutdown's
// bound, "Shutdown returns at most 100 ms after ctx ends, whatever the
// handlers do", when a peer has stopped reading its socket with replies
// queued for it and the write timeout (10 s by default) far away: the
// drain's go-away cannot be written, and must not hold Shutdown.
func TestAudit8ShutdownWithAPeerThatStopsReading(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 0
	cfg.MemoryBudget = 1 << 30
	s, c, deaf, gone := deafSetup(t, cfg)
	close(deaf)
	for range 64 {
		c.Go(t.Context(), "Big.Get", struct{}{}, nil)
	}
	// The replies pile up unwritten: their calls count as running until
	// their replies are written (a 1 MiB reply is written from the
	// handler's slice).
	require.Eventually(t, func() bool {
		conns := s.Conns()
		return len(conns) == 1 && conns[0].Running >= 32
	}, 5*time.Second, time.Millisecond, "calls whose replies wait for the peer")
	const budget = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), budget)
	defer cancel()
	t0 := time.Now()
	err := s.Shutdown(ctx)
	took := time.Since(t0)
	t.Logf("Shutdown returned after %v with a %v budget: %v", took, budget, err)
	assert.Less(t, took, budget+100*time.Millisecond+150*time.Millisecond, "at most 100 ms after ctx ends")
	within(t, gone, audit8Slack, "the connection ended")
}

// TestAudit8StreamOpenNeverAcknowledged checks transport.Config's
// StreamOpenTimeout ("how long a stream this side opened may go
// unacknowledged by the peer: once it passes, the whole session is
// closed") from a raw session whose server opens a streaming call to it
// (through a Peer) that it never acknowledges. The stream's caller
// learns that the connection was lost.
func TestAudit8StreamOpenNeverAcknowledged(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.StreamOpenTimeout = 300 * time.Millisecond
	gone := make(chan struct{})
	opened := make(chan error, 1)
	s := newServer(t, server.WithConfig(cfg), server.WithConnHooks(func(p *server.Peer) {
		st, err := p.NewStream(context.Background(), "Feed.Anything")
		if err == nil {
			err = st.Recv(nil)
			st.Close()
		}
		opened <- err
	}, func(*server.Peer) { close(gone) }))
	c := dialRaw(t, listen(t, s))
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	c.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(hello))), hello)
	// Read on, never acknowledging stream 2, until the session ends.
	var syn time.Time
	var err error
	for range 1000 {
		var f yamuxFrameSeen
		if f, _, err = gapFrame(c, 5*time.Second); err != nil {
			break
		}
		if f.stream == 2 && f.typ == 1 && f.flags&1 != 0 {
			syn = time.Now()
		}
	}
	require.False(t, syn.IsZero(), "the server opened stream 2 (a window update with SYN)")
	took := time.Since(syn)
	require.Error(t, err)
	require.False(t, isTimeout(err), "the session still runs 5 s after an open it never acknowledged")
	t.Logf("the session ended %v after the unacknowledged open (StreamOpenTimeout %v): %v", took, cfg.StreamOpenTimeout, err)
	assert.GreaterOrEqual(t, took, cfg.StreamOpenTimeout-50*time.Millisecond, "not before StreamOpenTimeout")
	assert.Less(t, took, cfg.StreamOpenTimeout+audit8Slack)
	within(t, gone, 5*time.Second, "the connection's end")
	err = within(t, opened, 5*time.Second, "the stream's end")
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "the stream's caller: %v", err)
}

// TestAudit8SessionOpen checks transport.Session.Open against a peer
// that never acknowledges a stream: Open "returns once its opening frame
// is sent, without waiting for the peer's acknowledgement"; "while
// AcceptBacklog streams this side opened are still unacknowledged, Open
// waits for one of them to be; ctx bounds that wait"; and the session
// ends once StreamOpenTimeout has passed.
func TestAudit8SessionOpen(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	peer := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		peer <- c
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	pc := within(t, peer, 5*time.Second, "the accept")
	defer pc.Close()
	raw := &rawConn{t: t, conn: pc, r: bufio.NewReader(pc)}

	cfg := transport.DefaultConfig()
	cfg.AcceptBacklog = 2
	cfg.StreamOpenTimeout = time.Second
	cfg.KeepAliveInterval = 0
	sess, err := transport.Client(nc, cfg)
	require.NoError(t, err)
	defer sess.Close()
	for i := range cfg.AcceptBacklog {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		st, err := sess.Open(ctx)
		cancel()
		require.NoError(t, err, "open %d, no acknowledgement needed", i+1)
		defer st.Close()
		f, _, err := gapFrame(raw, 5*time.Second)
		require.NoError(t, err)
		assert.Equal(t, uint32(2*i+1), f.stream, "the opening frame was sent")
	}
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = sess.Open(ctx)
	took := time.Since(t0)
	require.ErrorIs(t, err, context.DeadlineExceeded, "an open past AcceptBacklog unacknowledged streams waits, until ctx ends")
	assert.Less(t, took, 200*time.Millisecond+audit8Slack)
	select {
	case <-sess.Done():
		t.Logf("the session ended %v after the first open", time.Since(t0))
	case <-time.After(cfg.StreamOpenTimeout + 5*time.Second):
		t.Fatal("the session still runs 5 s past StreamOpenTimeout with streams never acknowledged")
	}
}

// TestAudit8NewBoundsItsHandshake checks transport.Config's "A client
// started with client.New also bounds its handshake by it"
// (StreamOpenTimeout): New on a connection to a peer that never answers
// the hello fails once StreamOpenTimeout has passed, and not before.
func TestAudit8NewBoundsItsHandshake(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c) // reads all, answers nothing
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	cfg := transport.DefaultConfig()
	cfg.StreamOpenTimeout = 400 * time.Millisecond
	t0 := time.Now()
	c, err := client.New(nc, client.WithConfig(cfg))
	took := time.Since(t0)
	if c != nil {
		c.Close()
	}
	t.Logf("New failed after %v: %v", took, err)
	require.Error(t, err)
	assert.GreaterOrEqual(t, took, cfg.StreamOpenTimeout-50*time.Millisecond)
	assert.Less(t, took, cfg.StreamOpenTimeout+audit8Slack)
	// Two bounds of the same length race: the hello's deadline
	// (deadline_exceeded) and the call stream that was never
	// acknowledged (the session closes: unavailable).
	assert.Contains(t, []ferry.Code{ferry.CodeUnavailable, ferry.CodeDeadlineExceeded}, ferry.CodeOf(err), "%v", err)
}

// deafListener hands out connections whose reads stop once deaf is
// closed (deafConn), hiding the TCP connection as opaqueListener does.
type deafListener struct {
	net.Listener
	deaf chan struct{}
}

func (l deafListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &deafConn{Conn: c, deaf: l.deaf, closed: make(chan struct{})}, nil
}

// stalledServer serves the test services with a 64 MiB stream window on
// connections whose reads stop once the returned channel is closed, and
// dials it with ccfg: closing the channel makes the client's writes
// stall in the socket, under the session.
func stalledServer(t *testing.T, ccfg transport.Config) (*client.Client, chan struct{}) {
	t.Helper()
	cfg := transport.DefaultConfig()
	cfg.StreamWindow = 64 << 20
	cfg.MemoryBudget = 1 << 30
	cfg.KeepAliveInterval = 0
	s := newServer(t, server.WithConfig(cfg), server.WithMemoryBudget(1<<30))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deaf := make(chan struct{})
	go func() { _ = s.Serve(deafListener{l, deaf}) }()
	ccfg.KeepAliveInterval = 0
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithConfig(ccfg))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c, deaf
}

// TestAudit8ClientCloseWithAServerThatStopsReading checks client.Close,
// "Calls in flight fail at once with an error wrapping ferry.ErrClosed (a
// call still waiting for room in a full write queue, behind writes the
// server does not take, within Close's one second for the last writes)",
// when the server has stopped reading its socket: no call waits for the
// write timeout (10 s by default), and Close returns.
func TestAudit8ClientCloseWithAServerThatStopsReading(t *testing.T) {
	c, deaf := stalledServer(t, transport.DefaultConfig())
	close(deaf)
	args := make([]byte, 1<<20)
	const n = 32 // 32 MiB: more than the socket buffers take
	errs := make(chan error, n)
	for range n {
		go func() { errs <- c.Call(t.Context(), "Echo.Echo", args, nil) }()
	}
	// The calls are stalled: none ends while the server does not read.
	select {
	case err := <-errs:
		t.Fatalf("a call ended while the server read nothing: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	t0 := time.Now()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		c.Close()
	}()
	for i := range n {
		err := within(t, errs, 5*time.Second, "a call in flight after Close")
		took := time.Since(t0)
		if i == 0 || i == n-1 {
			t.Logf("call %d failed %v after Close began: %v", i+1, took, err)
		}
		if i == 0 {
			assert.Less(t, took, 500*time.Millisecond, "the calls sent fail at once")
		}
		assert.ErrorIs(t, err, ferry.ErrClosed)
	}
	assert.Less(t, time.Since(t0), time.Second+audit8Slack, "every call in flight fails within Close's second")
	within(t, closed, time.Second+audit8Slack, "Close")
	t.Logf("Close returned after %v", time.Since(t0))
}

// TestAudit8GoWaitsForRoomAtMostWriteTimeout checks client.Conn.Go's
// "It does not wait for the network, only for room in the connection's
// write queue: while 1 MiB of messages waits behind a write the server
// does not take, Go (like Call and Notify) waits until ctx ends [...] or
// for at most the WriteTimeout": against a server that stopped reading
// its socket, Go returns at once until the queue is full; a Go whose
// context has no deadline then returns within about WriteTimeout, and the
// connection is lost (outcome unknown for what was sent, not executed
// for what was not). TestWriteQueueWaitEndsWithTheContext checks the
// contexts that end first.
func TestAudit8GoWaitsForRoomAtMostWriteTimeout(t *testing.T) {
	ccfg := transport.DefaultConfig()
	ccfg.WriteTimeout = time.Second
	c, deaf := stalledServer(t, ccfg)
	close(deaf)
	args := make([]byte, 256<<10)
	var calls []*ferry.Call
	full := false
	for range 1024 { // 256 MiB at most, far past the socket buffers
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		t0 := time.Now()
		calls = append(calls, c.Go(ctx, "Echo.Echo", args, nil))
		took := time.Since(t0)
		cancel()
		if took > 50*time.Millisecond {
			full = true
			break
		}
	}
	require.True(t, full, "no Go waited")
	t0 := time.Now()
	calls = append(calls, c.Go(t.Context(), "Echo.Echo", args, nil))
	blocked := time.Since(t0)
	t.Logf("Go %d waited %v (WriteTimeout %v, ctx without deadline)", len(calls), blocked, ccfg.WriteTimeout)
	assert.Less(t, blocked, ccfg.WriteTimeout+audit8Slack, "Go waits for at most WriteTimeout")
	within(t, c.Done(), audit8Slack, "the connection's end after its write timed out")
	for i, call := range calls {
		within(t, call.Done(), audit8Slack, "a call's end")
		assert.Error(t, call.Err(), "call %d", i+1)
	}
}

// TestAudit8EvictedSessionThatNeverAnswersThePing checks the time bound
// of WithConnLimits (and PROTOCOL.md 7): "A quiet session [...] gets
// $ferry.goaway on its call streams and a yamux go-away first, and is
// closed once it answered a ping sent after them (or after 250 ms)". A
// raw session that reads everything but never answers a ping makes room
// for a newcomer from its address: it sees the three in that order, then
// the end of the connection about 250 ms after the ping, and the newcomer
// is served.
func TestAudit8EvictedSessionThatNeverAnswersThePing(t *testing.T) {
	s := newServer(t, server.WithConnLimits(0, 1))
	addr := listen(t, s)
	c := dialRaw(t, addr)
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	c.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(hello))), hello)
	f, _, err := gapFrame(c, 5*time.Second)
	for range 10 {
		if err != nil || f.stream == 1 && len(f.data) > 0 {
			break
		}
		f, _, err = gapFrame(c, 5*time.Second)
	}
	require.NoError(t, err)
	require.NotEmpty(t, f.data, "the hello's answer")
	require.Eventually(t, func() bool { return allQuiet(s, 1) }, 5*time.Second, 5*time.Millisecond)

	fresh := make(chan error, 1)
	go func() {
		c, err := client.Dial(t.Context(), addr)
		if err == nil {
			var sum int64
			err = c.Call(t.Context(), "Arith.Add", map[string]int64{"A": 1, "B": 2}, &sum)
			c.Close()
		}
		fresh <- err
	}()
	var seen []string
	var ping time.Time
	for range 100 {
		f, _, err = gapFrame(c, 5*time.Second)
		if err != nil {
			break
		}
		switch {
		case f.typ == 0 && f.stream == 1:
			for _, m := range gapMessages(t, f.data) {
				seen = append(seen, fmtV(m[1]))
			}
		case f.typ == 3:
			seen = append(seen, "go-away")
		case f.typ == 2 && f.flags&1 != 0:
			seen = append(seen, "ping")
			ping = time.Now()
		}
	}
	took := time.Since(ping)
	require.Error(t, err)
	require.False(t, isTimeout(err), "the evicted session still runs 5 s later")
	require.GreaterOrEqual(t, len(seen), 3, "%v", seen)
	assert.Equal(t, []string{"$ferry.goaway", "go-away", "ping"}, seen[:3])
	t.Logf("frames %v; the connection ended %v after the ping: %v", seen, took, err)
	assert.GreaterOrEqual(t, took, 200*time.Millisecond, "it waited for the ping's answer")
	assert.Less(t, took, 250*time.Millisecond+audit8Slack, "closed about 250 ms after a ping it does not answer")
	require.NoError(t, within(t, fresh, 10*time.Second, "the newcomer's call"), "the newcomer is served")
}

// TestAudit8StreamWriteMayBeCutAfterSevenEighths checks what
// transport.Config.WriteTimeout says of every writer (a streaming call's
// included): it "re-arms its deadline only once less than 7/8 of it is
// left, so a write may be cut after 7/8 of WriteTimeout". A caller sends
// a small message (its write arms the deadline), then, WriteTimeout/10
// later, a message larger than the handler's window, which never
// receives: that write waits under the deadline armed before it, and
// fails about WriteTimeout/10 before a full WriteTimeout has passed since
// it began, never before 7/8 of it. The margin is half that gap; a
// loaded machine can notice the cut later than that (a run beside other
// tests saw it 275 ms late with a 2 s WriteTimeout), so a cut past it is
// measured once more before it counts.
func TestAudit8StreamWriteMayBeCutAfterSevenEighths(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 4 * time.Second
	var took, gap time.Duration
	var err error
	for try := range 2 {
		took, gap, err = audit8CutAfterSevenEighths(t, cfg)
		if took < cfg.WriteTimeout-gap/2 {
			break
		}
		t.Logf("try %d: cut %v after the write began, past the margin", try+1, took)
	}
	checkWriteTimedOut(t, err)
	require.Less(t, gap, cfg.WriteTimeout/8, "the second write began while the deadline was still 7/8 ahead")
	assert.Less(t, took, cfg.WriteTimeout-gap/2, "cut under the deadline armed before it began")
	assert.GreaterOrEqual(t, took, cfg.WriteTimeout*7/8-50*time.Millisecond, "never before 7/8 of WriteTimeout")
}

// audit8CutAfterSevenEighths runs TestAudit8StreamWriteMayBeCutAfterSevenEighths'
// two writes once and returns how long after it began the second was
// cut, the gap between the two, and the error.
func audit8CutAfterSevenEighths(t *testing.T, cfg transport.Config) (took, gap time.Duration, err error) {
	s := newServer(t, server.WithConfig(cfg))
	first := make(chan struct{})
	require.NoError(t, server.HandleBidi(s, "Sink.Ignore", func(ctx context.Context, st *server.BidiStream[[]byte, []byte]) error {
		if _, err := st.Recv(); err != nil {
			return err
		}
		close(first) // then it receives no more
		<-ctx.Done()
		return ctx.Err()
	}))
	c, err := client.Dial(t.Context(), listen(t, s), client.WithConfig(cfg))
	require.NoError(t, err)
	defer c.Close()
	st, err := client.OpenBidi[[]byte, []byte](t.Context(), c, "Sink.Ignore")
	require.NoError(t, err)
	defer st.Close()
	small := []byte("x")
	require.NoError(t, st.Send(&small))
	// The client's writer armed the deadline when it wrote the small
	// message, which the handler has now received: by this time (on a
	// loaded machine, a Send's write can come hundreds of milliseconds
	// after the Send).
	<-first
	armed := time.Now()
	<-time.After(cfg.WriteTimeout / 10) // the gap between the two writes
	big := make([]byte, 2*int(cfg.StreamWindow))
	began := time.Now()
	require.NoError(t, st.Send(&big)) // queued: its write waits for window
	// Messages queue behind it (64 KiB at most); Send fails once the
	// write did.
	more := make([]byte, 16<<10)
	for range 1 << 12 {
		if err = st.Send(&more); err != nil {
			break
		}
	}
	took, gap = time.Since(began), began.Sub(armed)
	t.Logf("the write failed %v after it began, %v after the deadline was armed: %v", took, time.Since(armed), err)
	return took, gap, err
}

// TestAudit8ExpiredStreamLingersAtMostTwoSeconds checks PROTOCOL.md 6,
// "Deadline", from a fake server that never sends the final status: when
// the caller's deadline passes, "the caller sends no cancel [...]: it
// keeps the stream open (reading and discarding, for at most 2 s)", and
// "the caller reports deadline_exceeded either way". The stream closes
// about 2 s after the deadline (not at once: a close would read as a
// cancel), and the next thing on the call stream is the next call, no
// $ferry.cancelstream.
func TestAudit8ExpiredStreamLingersAtMostTwoSeconds(t *testing.T) {
	c, f, _ := dialFake(t)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	st, err := c.NewStream(ctx, "S.Chat")
	require.NoError(t, err)
	defer st.Close()
	ws, open := f.acceptCall()
	require.Equal(t, "S.Chat", open[2])
	got := make(chan error, 1)
	go func() { got <- st.Recv(nil) }()
	err = within(t, got, time.Until(dl)+audit8Slack, "Recv after the deadline")
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
	// The server sends nothing: the caller closes its side by itself.
	require.NoError(t, ws.st.SetReadDeadline(time.Now().Add(10*time.Second)))
	n, err := io.Copy(io.Discard, ws.r)
	closed := time.Since(dl)
	require.NoError(t, err, "the caller closes the stream (EOF)")
	assert.Zero(t, n, "nothing after the opening request")
	t.Logf("the caller closed the expired stream %v after its deadline", closed)
	assert.GreaterOrEqual(t, closed, time.Second, "it kept the stream open for the server's status")
	assert.Less(t, closed, 2*time.Second+audit8Slack, "for at most 2 s")
	call := c.Go(t.Context(), "S.After", nil, nil)
	m := f.next()
	assert.Equal(t, "S.After", m[2], "no $ferry.cancelstream when a deadline passes: %v", m)
	f.call.write(enc([]any{1, m[1], nil, true}))
	require.NoError(t, call.Wait())
}

// TestAudit8CallStreamWithoutWindowIsClosed checks what
// transport.Config.WriteTimeout and SECURITY.md say of a peer that stops
// reading one stream ("a write that cannot finish in time breaks what it
// writes to: [...] a stream, for a write that waits for the stream's
// window (a call stream is closed, which ends a Ferry client's
// connection ...)") from a raw session that reads its socket and answers
// pings but never grants its call stream more window: replies past the
// stream's 256 KiB wait, and once WriteTimeout has passed the server
// closes that stream; the session goes on serving another call stream.
func TestAudit8CallStreamWithoutWindowIsClosed(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	c := dialRaw(t, listen(t, s))
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	c.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(hello))), hello)
	// The hello's answer: the server has accepted the stream (and raised
	// its own window to 1 MiB).
	got := len(c.frameWhere(func(f yamuxFrameSeen) bool { return f.typ == 0 && f.stream == 1 }).data)
	var reqs []byte
	for i := range 8 { // 8 × 64 KiB of replies: twice the stream's window
		reqs = append(reqs, request(uint32(2+i), "Echo.Echo", []any{make([]byte, 64<<10)}, map[string]any{})...)
	}
	c.write(yamuxFrame(0, 0, 1, uint32(len(reqs))), reqs)
	t0 := time.Now()
	f := c.frameWhere(func(f yamuxFrameSeen) bool {
		if f.typ == 0 && f.stream == 1 {
			got += len(f.data)
		}
		return f.stream == 1 && f.flags&(4|8) != 0 // FIN or RST
	})
	took := time.Since(t0)
	t.Logf("the server closed the call stream (flags %d) %v after the requests, %d bytes of replies taken", f.flags, took, got)
	assert.LessOrEqual(t, got, 256<<10, "no more than the stream's window")
	assert.Less(t, took, cfg.WriteTimeout+audit8Slack, "within about WriteTimeout")

	// The session itself goes on: another call stream is served.
	add := request(1, "Arith.Add", []any{1, 2}, map[string]any{})
	c.write(yamuxFrame(1, 1, 3, 0), yamuxFrame(0, 0, 3, uint32(len(add))), add)
	f = c.frameWhere(func(f yamuxFrameSeen) bool { return f.typ == 0 && f.stream == 3 && len(f.data) > 0 })
	msgs := gapMessages(t, f.data)
	require.NotEmpty(t, msgs)
	assert.EqualValues(t, 3, parseResponse(t, msgs[0]).result)
}
