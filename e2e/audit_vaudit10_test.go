package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
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

// a10Wait bounds every wait of this file's tests for an event.
const a10Wait = 5 * time.Second

// a10Ended is how a handler of this file's tests ended: its last Send's
// and Recv's errors, and its context's error.
type a10Ended struct {
	send, recv, ctx error
	late            int // messages the handler received after its context ended
}

// a10Counters capture the WireCounter of each stream the client opens
// and of each stream the server serves.
func a10Counters(calling, served *atomic.Value) (client.Option, server.Option) {
	return client.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			cs, err := next(ctx, info)
			if err == nil {
				calling.Store(cs.(ferry.WireCounter))
			}
			return cs, err
		}), server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
			served.Store(st.(ferry.WireCounter))
			return next(ctx, st)
		})
}

// TestAudit10SendRecvAfterContextEnds checks client.Stream's contract:
// "when ctx's deadline passes, Send and Recv return CodeDeadlineExceeded
// ...; when ctx is canceled, CodeCanceled". A Send or Recv that starts
// after ctx ended is no exception: Send used to return nil and send its
// message (the stream's window had room, and a yamux stream takes a
// write past its deadline while it does), and Recv returned the messages
// that had arrived before ctx ended. The handler must get nothing sent
// after the end. Messages of 1 KiB (Send first) and 64 KiB (Recv first).
func TestAudit10SendRecvAfterContextEnds(t *testing.T) {
	var calling, served atomic.Value
	copt, sopt := a10Counters(&calling, &served)
	s := newServer(t, sopt)
	ended := make(chan a10Ended, 8)
	// A10.Feed reads its size, sends 3 messages of that size, then counts
	// what else arrives until its Recv fails.
	require.NoError(t, s.HandleStream("A10.Feed", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var n int
		if err := st.Recv(&n); err != nil {
			return nil, err
		}
		for range 3 {
			if err := st.Send(make([]byte, n)); err != nil {
				return nil, err
			}
		}
		var e a10Ended
		for {
			var b []byte
			if e.recv = st.Recv(&b); e.recv != nil {
				break
			}
			e.late++
		}
		e.ctx = ctx.Err()
		ended <- e
		return nil, e.recv
	}))
	c := dialTCP(t, s, copt)
	for _, n := range []int{1 << 10, 64 << 10} {
		for _, deadline := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dKiB/deadline=%v", n>>10, deadline), func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				want, code := context.Canceled, ferry.CodeCanceled
				if deadline {
					ctx, cancel = context.WithTimeout(t.Context(), time.Second)
					want, code = context.DeadlineExceeded, ferry.CodeDeadlineExceeded
				}
				defer cancel()
				st, err := c.NewStream(ctx, "A10.Feed")
				require.NoError(t, err)
				defer st.Close()
				require.NoError(t, st.Send(n))
				var b []byte
				require.NoError(t, st.Recv(&b))
				require.Len(t, b, n)
				// The other two have reached the client: the server wrote
				// them to the session before a unary reply that came back.
				require.Eventually(t, func() bool {
					sent, _ := served.Load().(ferry.WireCounter).WireBytes()
					return sent >= int64(3*n)
				}, a10Wait, time.Millisecond)
				require.NoError(t, c.Call(t.Context(), "Arith.Add", map[string]int{"A": 1, "B": 2}, nil))
				if !deadline {
					cancel()
				}
				<-ctx.Done()

				// Any may come first: the first one ends the stream.
				// CloseSend too sends nothing once ctx has ended (it
				// returned nil, its [4] taken by a window with room).
				send := func() error { return st.Send(make([]byte, n)) }
				recv := func() error { return st.Recv(&b) }
				closeSend := func() error { return st.CloseSend() }
				ops := []func() error{recv, send, closeSend}
				if n == 1<<10 {
					ops = []func() error{closeSend, send, recv}
				}
				for _, op := range ops {
					err = op()
					assert.Equal(t, code, ferry.CodeOf(err), "after ctx ended: %v", err)
					assert.ErrorIs(t, err, want)
				}
				select {
				case e := <-ended:
					assert.Zero(t, e.late, "messages the handler got after the caller's ctx ended")
					assert.ErrorIs(t, e.ctx, want, "the handler's context (its Recv: %v)", e.recv)
				case <-time.After(a10Wait):
					t.Fatal("the handler never ended")
				}
			})
		}
	}
}

// TestAudit10ServedSendRecvAfterContextEnds checks server.Stream: Send
// blocks "until ctx ends", and Recv returns "CodeCanceled or
// CodeDeadlineExceeded once ctx ended", with a raw session peer: a handler
// that sends after its caller's deadline passed, or after its caller's
// $ferry.cancelstream, fails with its context's code and sends nothing
// (Send returned nil and the peer got the messages before the status),
// and a Recv after the end does not return what the caller sent before.
func TestAudit10ServedSendRecvAfterContextEnds(t *testing.T) {
	s := newServer(t)
	got := make(chan a10Ended, 4)
	first := make(chan struct{}, 4)
	require.NoError(t, s.HandleStream("A10.Late", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var v string
		if err := st.Recv(&v); err != nil {
			return nil, err
		}
		first <- struct{}{}
		<-ctx.Done()
		var e a10Ended
		if e.recv = st.Recv(&v); e.recv == nil {
			e.late++
		}
		e.send = st.Send("late")
		_ = st.Send("later")
		e.ctx = ctx.Err()
		got <- e
		return "result", nil
	}))
	ws := dialSession(t, listen(t, s))
	for _, deadline := range []bool{true, false} {
		t.Run(fmt.Sprintf("deadline=%v", deadline), func(t *testing.T) {
			st := ws.open()
			ext := map[string]any{}
			if deadline {
				ext["t"] = int64(200 * time.Millisecond)
			}
			st.write(append([]byte{0xc1}, request(0, "A10.Late", []any{}, ext)...))
			st.write(frame("a"), frame("b"), frame("c"))
			<-first
			want, code := context.DeadlineExceeded, ferry.CodeDeadlineExceeded
			if !deadline {
				want, code = context.Canceled, ferry.CodeCanceled
				ws.call.write(notification("$ferry.cancelstream", []any{st.st.StreamID()}))
			}
			var e a10Ended
			select {
			case e = <-got:
			case <-time.After(a10Wait):
				t.Fatal("the handler never saw its context end")
			}
			assert.ErrorIs(t, e.ctx, want)
			assert.Zero(t, e.late, "Recv returned a message after the call ended")
			assert.Equal(t, code, ferry.CodeOf(e.recv), "Recv: %v", e.recv)
			assert.Equal(t, code, ferry.CodeOf(e.send), "Send: %v", e.send)
			if deadline {
				msgs, r := st.status()
				assert.Empty(t, msgs, "messages sent after the deadline")
				assert.EqualValues(t, 4, r.code(), "deadline_exceeded: %v", r.err)
				st.ended()
				return
			}
			// Canceled: no status, and nothing else either.
			require.NoError(t, st.st.SetReadDeadline(time.Now().Add(a10Wait)))
			rest, err := io.ReadAll(st.r)
			require.NoError(t, err, "the server closes the canceled stream")
			assert.Empty(t, rest, "what the server sent after the cancel")
		})
	}
}

// TestAudit10ClientInterceptorFailsAfterOpening checks
// ferry.StreamClientInterceptor: only "an error returned without calling
// next refuses the stream" with NotExecuted true. An interceptor that
// called next, and so opened the stream, then returned an error (or
// neither a stream nor an error) left that stream open with nobody to
// close it: the server's handler ran until the connection ended. The
// stream is closed now, which cancels the call, and the error does not
// claim that nothing ran.
func TestAudit10ClientInterceptorFailsAfterOpening(t *testing.T) {
	s := newServer(t)
	started := make(chan struct{}, 2)
	ended := make(chan error, 2)
	require.NoError(t, s.HandleStream("A10.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		started <- struct{}{}
		var v any
		err := st.Recv(&v)
		ended <- ctx.Err()
		return nil, err
	}))
	c := dialTCP(t, s, client.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		if _, err := next(ctx, info); err != nil {
			return nil, err
		}
		if ctx.Value(a10Nil{}) != nil {
			return nil, nil
		}
		return nil, ferry.NewError(ferry.CodeAborted, "the interceptor changed its mind")
	}))
	for _, tc := range []struct {
		name string
		ctx  context.Context
		code ferry.Code
	}{
		{"error", t.Context(), ferry.CodeAborted},
		{"neither", context.WithValue(t.Context(), a10Nil{}, true), ferry.CodeInternal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := c.NewStream(tc.ctx, "A10.Wait")
			require.Error(t, err)
			assert.Nil(t, st)
			assert.Equal(t, tc.code, ferry.CodeOf(err), "%v", err)
			assert.False(t, ferry.NotExecuted(err), "the stream was opened: its handler may run (%v)", err)
			select {
			case <-started:
			case <-time.After(a10Wait):
				t.Fatal("the stream never reached the handler")
			}
			select {
			case ctxErr := <-ended:
				assert.ErrorIs(t, ctxErr, context.Canceled, "the handler's call was canceled")
			case <-time.After(a10Wait):
				t.Fatal("the handler of a stream nobody can close kept running")
			}
		})
	}
}

// a10Nil asks TestAudit10ClientInterceptorFailsAfterOpening's interceptor
// to return neither a stream nor an error.
type a10Nil struct{}

// TestAudit10StalledFrameClosesTheStream checks PROTOCOL.md 5, "A peer
// that holds part of a message without sending more of it for
// PartialMessageTimeout has that stream ... closed", and
// transport.Config.PartialMessageTimeout, on a streaming call from a raw
// session peer: the server half-closed the stream, but its handler went
// on waiting in Recv, and got the message once the peer sent the rest.
// Now the handler's Recv fails (CodeUnavailable) and nothing sent after
// the stall reaches it. Partial frames of 1 KiB, 64 KiB and just under
// the 1 MiB stream window (half of each sent).
func TestAudit10StalledFrameClosesTheStream(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 200 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	type recvd struct {
		msgs int
		err  error
	}
	got := make(chan recvd, 8)
	require.NoError(t, s.HandleStream("A10.Read", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var r recvd
		for {
			var b []byte
			if r.err = st.Recv(&b); r.err != nil {
				break
			}
			r.msgs++
		}
		got <- r
		return nil, r.err
	}))
	ws := dialSession(t, listen(t, s))
	for _, n := range []int{1 << 10, 64 << 10, 1<<20 - 1<<10} {
		t.Run(fmt.Sprintf("%dB", n), func(t *testing.T) {
			st := ws.openCall("A10.Read")
			whole := frame(bytes.Repeat([]byte{'s'}, n))
			st.write(frame([]byte("first")), whole[:len(whole)/2])
			start := time.Now()
			var r recvd
			select {
			case r = <-got:
			case <-time.After(a10Wait):
				t.Fatal("the handler still waits in Recv on a stalled stream")
			}
			t.Logf("the handler's Recv failed %v after the stall began: %v", time.Since(start).Round(time.Millisecond), r.err)
			assert.Equal(t, 1, r.msgs)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(r.err), "%v", r.err)
			assert.NotContains(t, r.err.Error(), "write", "a read that stalled is no write timeout")
			require.NoError(t, st.st.SetReadDeadline(time.Now().Add(a10Wait)))
			rest, err := io.ReadAll(st.r)
			require.NoError(t, err, "the server closed the stream")
			assert.Empty(t, rest)
			// The rest arrives too late: it is never served.
			_, _ = st.st.Write(append(whole[len(whole)/2:], closeSend...))
			r2 := parseResponse(t, ws.call.read2(request(7, "Arith.Add", []any{1, 2}, map[string]any{})))
			assert.EqualValues(t, 3, r2.result, "the session goes on")
			select {
			case r = <-got:
				t.Fatalf("a handler read after the stall: %+v", r)
			default:
			}
		})
	}
}

// TestAudit10CallerStalledFrame checks the same bound on the calling side
// (transport.Config.PartialMessageTimeout: "a stream ... that stalls
// mid-message longer is closed"): a server that sends part of a message
// on a streaming call and stalls held the Ferry caller's Recv for good,
// since a caller's stream had no stall bound (nor a memory account for
// its partial message). Now Recv fails with CodeUnavailable, and the
// caller closes the stream.
func TestAudit10CallerStalledFrame(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 200 * time.Millisecond
	c, f, _ := dialFake(t, client.WithConfig(cfg))
	for _, n := range []int{1 << 10, 64 << 10} {
		t.Run(fmt.Sprintf("%dB", n), func(t *testing.T) {
			st, err := c.NewStream(t.Context(), "S.Chat")
			require.NoError(t, err)
			defer st.Close()
			ws, _ := f.acceptCall()
			whole := frame(bytes.Repeat([]byte{'c'}, n))
			ws.write(frame("first"), whole[:len(whole)/2])
			var v string
			require.NoError(t, st.Recv(&v))
			assert.Equal(t, "first", v)
			recv := make(chan error, 1)
			go func() {
				var b []byte
				recv <- st.Recv(&b)
			}()
			select {
			case err = <-recv:
			case <-time.After(a10Wait):
				ws.st.Close() // let the Recv end
				<-recv
				t.Fatal("the caller's Recv still waits on a stalled stream")
			}
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
			assert.NotContains(t, err.Error(), "write", "a read that stalled is no write timeout")
			assert.False(t, ferry.NotExecuted(err), "%v", err)
			require.NoError(t, ws.st.SetReadDeadline(time.Now().Add(a10Wait)))
			_, err = io.Copy(io.Discard, ws.r)
			assert.NoError(t, err, "the caller closes the stream")
			// It canceled the call, on the call stream.
			m := f.next()
			assert.Equal(t, []any{int64(2), "$ferry.cancelstream", []any{int64(ws.st.StreamID())}}, normalizeInts(m[:3]))
		})
	}
}

// TestAudit10CallerSendsAStatus checks PROTOCOL.md 6: the final status
// goes "server to caller only", and "Any other frame ... is a protocol
// error: the server ends the call with the status internal ("protocol
// error: …") and closes the stream". A raw caller that sent a status
// frame had it taken as the end of its own messages: [1, 0, nil, nil]
// canceled the call and [1, 0, "x", nil] reached the handler's Recv as
// the error "x", and the caller got no status either way.
func TestAudit10CallerSendsAStatus(t *testing.T) {
	s := newServer(t)
	got := make(chan error, 4)
	require.NoError(t, s.HandleStream("A10.Recv", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var v any
		err := st.Recv(&v)
		got <- err
		return nil, err
	}))
	ws := dialSession(t, listen(t, s))
	for _, status := range [][]byte{enc([]any{1, 0, nil, nil}), enc([]any{1, 0, "x", nil}), enc([]any{1, 0, "x", nil, map[string]any{"c": 9}})} {
		st := ws.openCall("A10.Recv")
		st.write(status)
		select {
		case err := <-got:
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "the handler's Recv, % x: %v", status, err)
		case <-time.After(a10Wait):
			t.Fatal("the handler's Recv never returned")
		}
		msgs, r := st.status()
		assert.Empty(t, msgs)
		assert.EqualValues(t, 13, r.code(), "internal, % x: %v", status, r.err)
		assert.Contains(t, r.err, "protocol error", "% x", status)
		st.ended()
	}
}

// TestAudit10ServerSendsEnd checks PROTOCOL.md 6 from a fake server: "in
// both directions, frames ...: [4] the sender will send no more messages
// (CloseSend)". A Ferry caller whose server sent [4] before its final
// status failed the call as "connection lost" (unavailable) and never
// read the status; it now reads on to the status: io.EOF and the result,
// or the handler's error.
func TestAudit10ServerSendsEnd(t *testing.T) {
	c, f, _ := dialFake(t)
	for _, tc := range []struct {
		status []byte
		code   ferry.Code
	}{
		{enc([]any{1, 0, nil, 5}), 0},
		{enc([]any{1, 0, "gone", nil, map[string]any{"c": 5}}), ferry.CodeNotFound},
	} {
		st, err := c.NewStream(t.Context(), "S.Chat")
		require.NoError(t, err)
		ws, _ := f.acceptCall()
		ws.write(frame("a"), closeSend, tc.status)
		var v string
		require.NoError(t, st.Recv(&v))
		assert.Equal(t, "a", v)
		err = st.Recv(&v)
		if tc.code == 0 {
			require.ErrorIs(t, err, io.EOF)
			var r int
			require.NoError(t, st.Result(&r))
			assert.Equal(t, 5, r)
		} else {
			assert.Equal(t, tc.code, ferry.CodeOf(err), "%v", err)
		}
		require.NoError(t, st.Close())
	}
}

// TestAudit10ClientServedStalledFrame checks the same bound on a stream a
// server opens to a client's streaming handler (client.HandleStream: "the
// same semantics as streams a client opens to a server"), from a fake
// server: the handler's Recv fails with CodeUnavailable once the server
// held part of a message past PartialMessageTimeout, and the client closes
// the stream; it used to wait in Recv for as long as the server kept the
// stream open.
func TestAudit10ClientServedStalledFrame(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 200 * time.Millisecond
	c, f, _ := dialFake(t, client.WithConfig(cfg))
	got := make(chan error, 1)
	require.NoError(t, c.HandleStream("C.Read", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
		var err error
		for range 1000 {
			var b []byte
			if err = st.Recv(&b); err != nil {
				break
			}
		}
		got <- err
		return nil, err
	}))
	raw, err := f.sess.OpenStream()
	require.NoError(t, err)
	defer raw.Close()
	ws := &wireStream{t: t, st: raw, r: bufio.NewReader(raw)}
	whole := frame(bytes.Repeat([]byte{'c'}, 64<<10))
	ws.write(append([]byte{0xc1}, request(0, "C.Read", []any{}, map[string]any{})...), frame("first"), whole[:len(whole)/2])
	select {
	case err = <-got:
	case <-time.After(a10Wait):
		t.Fatal("the client's handler still waits in Recv on a stalled stream")
	}
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	require.NoError(t, raw.SetReadDeadline(time.Now().Add(a10Wait)))
	rest, err := io.ReadAll(ws.r)
	require.NoError(t, err, "the client closed the stream")
	assert.Empty(t, rest, "no status after a stall")
}
