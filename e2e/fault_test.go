package e2e_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// faultSlack bounds how much later than ideal an event may come on a
// loaded 2-core machine running the race detector.
const faultSlack = 3 * time.Second

// clientModes are the two protocols a Ferry client speaks.
var clientModes = []struct {
	name string
	opts []client.Option
}{
	{"session", nil},
	{"plain", []client.Option{client.WithPlainMsgpackRPC()}},
}

// serveLoopback serves s on a fresh loopback listener, wrapped by f when f
// is not nil, and returns its address; the listener closes at cleanup.
func serveLoopback(t *testing.T, s *server.Server, f *faultnet.Faults) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	if f != nil {
		l = f.Listener(l)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
	return addr
}

// dialFaulty connects a client to s over loopback TCP, with f's faults
// applied to the client's end of the connection.
func dialFaulty(t *testing.T, s *server.Server, f *faultnet.Faults, opts ...client.Option) *client.Client {
	t.Helper()
	addr := serveLoopback(t, s, nil)
	nc, err := f.Dialer(nil)(t.Context(), "tcp", addr)
	require.NoError(t, err)
	c, err := client.New(nc, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// requireOutcomeUnknown checks the error of a call whose connection was
// lost after the request went out: a transport error that does not claim
// the call never ran, and never a bare end of stream.
func requireOutcomeUnknown(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err, "a lost call never succeeds")
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err), "the request was sent: outcome unknown: %v", err)
	assert.NotErrorIs(t, err, io.EOF)
	assert.NotErrorIs(t, err, io.ErrUnexpectedEOF)
}

// TestBlackholedPeerIsDetected partitions a session mid-call: the client's
// keepalive must notice within KeepAliveInterval + WriteTimeout and fail
// every call and stream in flight as outcome unknown.
func TestBlackholedPeerIsDetected(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 300 * time.Millisecond
	cfg.WriteTimeout = 300 * time.Millisecond
	limit := cfg.KeepAliveInterval + cfg.WriteTimeout + 500*time.Millisecond

	s := streamServer(t, server.WithConfig(cfg))
	b := newBlocker()
	require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
	f := faultnet.New()
	c := dialFaulty(t, s, f, client.WithConfig(cfg))

	const n = 16
	calls := make([]*ferry.Call, n)
	for i := range calls {
		calls[i] = c.Go(t.Context(), "Block.Wait", struct{}{}, nil)
	}
	syncErr := make(chan error, 1)
	go func() { syncErr <- c.Call(t.Context(), "Block.Wait", struct{}{}, nil) }()
	for range n + 1 {
		<-b.started
	}
	bidi, err := client.OpenBidi[num, num](t.Context(), c, "Num.Double")
	require.NoError(t, err)
	defer bidi.Close()
	require.NoError(t, bidi.Send(&num{1}))
	m, err := bidi.Recv()
	require.NoError(t, err)
	require.Equal(t, 2, m.N)

	t0 := time.Now()
	f.Blackhole()
	for _, call := range calls {
		<-call.Done()
	}
	err = <-syncErr
	detected := time.Since(t0)
	t.Logf("blackholed peer detected after %v (keepalive %v + write timeout %v; limit %v)",
		detected, cfg.KeepAliveInterval, cfg.WriteTimeout, limit)
	assert.LessOrEqual(t, detected, limit)
	requireOutcomeUnknown(t, err)
	t.Logf("a call in flight failed with: %v", err)
	for _, call := range calls {
		requireOutcomeUnknown(t, call.Err())
	}
	_, err = bidi.Recv()
	requireOutcomeUnknown(t, err)
	<-c.Done()

	err = c.Call(t.Context(), "Arith.Add", struct{}{}, nil)
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err), "a call after the loss is never sent: %v", err)
	// The server hears of it once the client closes its end.
	for range n + 1 {
		require.ErrorIs(t, <-b.ended, context.Canceled)
	}
}

// TestEOFBeforeReplyIsOutcomeUnknown cuts the connection after the server
// has read the request and before it answers: the call must fail as
// "connection lost, outcome unknown", never succeed and never claim that
// it was not executed.
func TestEOFBeforeReplyIsOutcomeUnknown(t *testing.T) {
	for _, mode := range clientModes {
		for _, how := range []string{"close", "reset"} {
			t.Run(mode.name+"/"+how, func(t *testing.T) {
				s := newServer(t)
				b := newBlocker()
				require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
				f := faultnet.New()
				addr := serveLoopback(t, s, f)
				c, err := client.Dial(t.Context(), addr, mode.opts...)
				require.NoError(t, err)
				defer c.Close()

				call := c.Go(t.Context(), "Block.Wait", struct{}{}, nil)
				syncErr := make(chan error, 1)
				go func() { syncErr <- c.Call(t.Context(), "Block.Wait", struct{}{}, nil) }()
				<-b.started
				<-b.started
				if how == "close" {
					require.Equal(t, 1, f.CloseAll())
				} else {
					require.Equal(t, 1, f.ResetAll())
				}
				requireOutcomeUnknown(t, call.Wait())
				requireOutcomeUnknown(t, <-syncErr)
				<-c.Done()
				<-b.ended
				<-b.ended
			})
		}
	}
}

// TestPartialReplyIsOutcomeUnknown has a bare MessagePack-RPC server send
// half a response and hang up: a reply cut short is a lost connection.
func TestPartialReplyIsOutcomeUnknown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	served := make(chan error, 1)
	go func() { served <- sendPartialReply(l) }()
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	var got string
	err = c.Call(t.Context(), "Any.Method", struct{}{}, &got)
	require.NoError(t, <-served)
	requireOutcomeUnknown(t, err)
	assert.Empty(t, got)
}

// sendPartialReply accepts one connection, reads a request and answers
// [1, id, nil, "a 64-byte string... with only 10 bytes of the string.
func sendPartialReply(l net.Listener) error {
	nc, err := l.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	msg, err := wire.NewReader(nc, wire.DefaultLimits).Next()
	if err != nil {
		return err
	}
	req, err := wire.Parse(msg)
	if err != nil {
		return err
	}
	reply := msgpack.AppendNil(msgpack.AppendUint(append(msgpack.AppendArrayHeader(nil, 4), wire.TypeResponse), uint64(req.ID)))
	_, err = nc.Write(append(append(reply, 0xd9, 64), "0123456789"...))
	return err
}

// TestSlowNetworkStillWorks adds latency, then a bandwidth limit: calls get
// slower by what the faults cost, and still succeed.
func TestSlowNetworkStillWorks(t *testing.T) {
	for _, mode := range clientModes {
		t.Run(mode.name, func(t *testing.T) {
			s := newServer(t)
			f := faultnet.New()
			c := dialFaulty(t, s, f, mode.opts...)

			const delay = 25 * time.Millisecond
			f.SetLatency(faultnet.Both, delay)
			var sum int64
			t0 := time.Now()
			require.NoError(t, c.Call(t.Context(), "Arith.Add", map[string]int64{"A": 2, "B": 3}, &sum))
			took := time.Since(t0)
			t.Logf("one call with %v added each way: %v", delay, took)
			assert.Equal(t, int64(5), sum)
			assert.GreaterOrEqual(t, took, 2*delay)
			assert.LessOrEqual(t, took, 2*delay+faultSlack)
			calls := make([]*ferry.Call, 64)
			for i := range calls {
				calls[i] = c.Go(t.Context(), "Arith.Add", map[string]int64{"A": int64(i), "B": 1}, new(int64))
			}
			for i, call := range calls {
				require.NoError(t, call.Wait())
				assert.Equal(t, int64(i+1), *call.Reply.(*int64))
			}

			f.Heal()
			const rate, size = 256 << 10, 128 << 10
			f.SetBandwidth(faultnet.Both, rate)
			payload, err := codec.Marshal(bytes.Repeat([]byte{0xab}, size))
			require.NoError(t, err)
			var echoed codec.Raw
			t0 = time.Now()
			require.NoError(t, c.Call(t.Context(), "Echo.Echo", codec.Raw(payload), &echoed))
			took = time.Since(t0)
			// Each way the first 1/20 s of traffic passes at once.
			least := 2 * time.Duration(size-rate/20) * time.Second / rate
			t.Logf("echo of %d KiB at %d KiB/s each way: %v (at least %v)", size>>10, rate>>10, took, least)
			assert.Equal(t, codec.Raw(payload), echoed)
			assert.GreaterOrEqual(t, took, least)
			assert.LessOrEqual(t, took, least+faultSlack)
		})
	}
}

// TestStalledPeerHitsDeadline stalls or blackholes the connection: calls
// with a deadline fail with DeadlineExceeded at their deadline, and once
// a stall is lifted the connection carries calls again.
func TestStalledPeerHitsDeadline(t *testing.T) {
	for _, mode := range clientModes {
		for _, fault := range []string{"stall", "blackhole"} {
			t.Run(mode.name+"/"+fault, func(t *testing.T) {
				s := newServer(t)
				f := faultnet.New()
				c := dialFaulty(t, s, f, mode.opts...)
				require.NoError(t, c.Call(t.Context(), "Arith.Add", map[string]int64{"A": 1}, nil))
				if fault == "stall" {
					f.Stall(faultnet.Both)
				} else {
					f.Blackhole()
				}

				const timeout = 300 * time.Millisecond
				ctx, cancel := context.WithTimeout(t.Context(), timeout)
				defer cancel()
				// Measured against ctx's own deadline: a test goroutine
				// descheduled between WithTimeout and a time.Now of its own
				// would shorten a measured duration (CI saw 296 ms).
				deadline, _ := ctx.Deadline()
				async := c.Go(ctx, "Arith.Add", map[string]int64{"A": 1}, nil)
				err := c.Call(ctx, "Arith.Add", map[string]int64{"A": 1}, nil)
				ended := time.Now()
				require.ErrorIs(t, err, context.DeadlineExceeded)
				assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))
				require.ErrorIs(t, async.Wait(), context.DeadlineExceeded)
				late := ended.Sub(deadline)
				t.Logf("call on a connection with a %s ended %v after its deadline (timeout %v)", fault, late, timeout)
				assert.GreaterOrEqual(t, late, -time.Millisecond, "the call ended before its deadline")
				assert.LessOrEqual(t, late, faultSlack)

				if fault == "stall" {
					f.Resume()
					var sum int64
					require.NoError(t, c.Call(t.Context(), "Arith.Add", map[string]int64{"A": 2, "B": 2}, &sum))
					assert.Equal(t, int64(4), sum)
				}
			})
		}
	}
}

// closePrompt bounds Close on a stalled connection: the final flush may
// take its 1 s, and no more.
const closePrompt = time.Second + faultSlack

// TestCloseIsPromptWhenPeerStalls closes clients and servers whose
// connections cannot send (a peer that stopped reading, a full send
// buffer): Close and an expired Shutdown must not wait for WriteTimeout
// per connection.
func TestCloseIsPromptWhenPeerStalls(t *testing.T) {
	t.Run("client Close", func(t *testing.T) {
		s := newServer(t)
		f := faultnet.New()
		c := dialFaulty(t, s, f)
		call := c.Go(t.Context(), "Echo.Sleep", int64(60_000), nil)
		f.Stall(faultnet.Out)
		t0 := time.Now()
		require.NoError(t, c.Close())
		took := time.Since(t0)
		t.Logf("client Close on a stalled connection: %v", took)
		assert.LessOrEqual(t, took, closePrompt)
		require.ErrorIs(t, call.Wait(), ferry.ErrClosed)
	})
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run("server "+how, func(t *testing.T) {
			s := newServer(t)
			f := faultnet.New()
			addr := serveLoopback(t, s, f)
			var calls []*ferry.Call
			for range 3 {
				c, err := client.Dial(t.Context(), addr)
				require.NoError(t, err)
				defer c.Close()
				calls = append(calls, c.Go(t.Context(), "Echo.Sleep", int64(60_000), nil))
			}
			require.Eventually(t, func() bool { return len(s.Conns()) == 3 }, faultSlack, time.Millisecond)
			f.Stall(faultnet.Out)
			t0 := time.Now()
			if how == "Close" {
				require.NoError(t, s.Close())
			} else {
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				defer cancel()
				require.ErrorIs(t, s.Shutdown(ctx), context.DeadlineExceeded)
			}
			took := time.Since(t0)
			t.Logf("server %s with 3 stalled connections: %v", how, took)
			assert.LessOrEqual(t, took, closePrompt)
			f.Heal()
			for _, call := range calls {
				require.Error(t, call.Wait())
			}
		})
	}
}

// TestStreamDeadlineUnderStall stalls a bidirectional stream: its
// deadline must end Recv at the deadline, not after WriteTimeout.
func TestStreamDeadlineUnderStall(t *testing.T) {
	s := streamServer(t)
	f := faultnet.New()
	c := dialFaulty(t, s, f)
	const timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	t0 := time.Now()
	bidi, err := client.OpenBidi[num, num](ctx, c, "Num.Double")
	require.NoError(t, err)
	defer bidi.Close()
	require.NoError(t, bidi.Send(&num{1}))
	_, err = bidi.Recv()
	require.NoError(t, err)
	f.Stall(faultnet.Both)
	_, err = bidi.Recv()
	took := time.Since(t0)
	t.Logf("stream Recv on a stalled connection ended after %v (deadline %v): %v", took, timeout, err)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.LessOrEqual(t, took, timeout+faultSlack)
}

// TestWriteErrorWithPendingFrames breaks a session's connection with a
// write timeout while more frames wait to be written: the session must
// still close, and the server with it.
func TestWriteErrorWithPendingFrames(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 200 * time.Millisecond
	// No Close at cleanup: with the bug, it would hang the test binary.
	s := server.New(server.WithConfig(cfg))
	require.NoError(t, s.Register(testsvc.Arith{}))
	f := faultnet.New()
	addr := serveLoopback(t, s, f)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	f.Stall(faultnet.Out)
	// Keep replies coming while the server's stalled write waits for its
	// deadline, so that frames are pending when it fails.
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	end := time.After(faultSlack)
	for sent := 0; sent < 5000; sent++ {
		select {
		case <-tick.C:
			c.Go(t.Context(), "Arith.Add", map[string]int64{"A": 1}, nil)
			continue
		case <-c.Done():
		case <-end:
		}
		break
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		s.Close()
		c.Close()
	}()
	f.Heal()
	select {
	case <-closed:
	case <-time.After(faultSlack):
		t.Fatal("the server's or the client's Close deadlocked")
	}
}
