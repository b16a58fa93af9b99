package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// The tests in this file check PROTOCOL.md sentences the earlier audits
// (protocol_audit*_test.go) left without a test, on the wire: raw yamux
// frames and hand-built MessagePack.

// gapFrame reads the next session frame as it comes, pings included (not
// answered), with its header's length field; the error is the read's,
// a timeout when nothing came within d.
func gapFrame(c *rawConn, d time.Duration) (yamuxFrameSeen, uint32, error) {
	if err := c.conn.SetReadDeadline(time.Now().Add(d)); err != nil {
		return yamuxFrameSeen{}, 0, err
	}
	h := make([]byte, 12)
	if _, err := io.ReadFull(c.r, h); err != nil {
		return yamuxFrameSeen{}, 0, err
	}
	f := yamuxFrameSeen{typ: h[1], flags: binary.BigEndian.Uint16(h[2:]), stream: binary.BigEndian.Uint32(h[4:])}
	length := binary.BigEndian.Uint32(h[8:])
	if f.typ == 0 && length > 0 {
		f.data = make([]byte, length)
		if _, err := io.ReadFull(c.r, f.data); err != nil {
			return f, length, err
		}
	}
	return f, length, nil
}

// isTimeout reports whether err is a read that timed out.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// gapMessages decodes the whole messages in a data frame's payload (the
// server's control messages are small and never split).
func gapMessages(t *testing.T, data []byte) [][]any {
	t.Helper()
	var out [][]any
	d := msgpack.NewDecoder(bytes.NewReader(data))
	for range 100 {
		var m []any
		if err := d.Decode(&m); err == io.EOF {
			return out
		} else {
			require.NoError(t, err, "% x", data)
		}
		out = append(out, m)
	}
	t.Fatal("more than 100 messages in one frame")
	return nil
}

// gapSession opens stream 1 of a raw session, sends first on it and, when
// first is a request, reads its answer.
func gapSession(t *testing.T, addr string, first []byte) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	c.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(first))), first)
	if first[1] == 0 { // [0, msgid, ...]: a request
		c.frameWhere(func(f yamuxFrameSeen) bool { return f.stream == 1 && len(f.data) > 0 })
	}
	return c
}

// shutdownAsync starts s.Shutdown with a 20 s budget; its result arrives
// on the channel.
func shutdownAsync(s *server.Server) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		done <- s.Shutdown(ctx)
	}()
	return done
}

// goingAway reads the start of a drain on a raw session, up to the yamux
// ping, without answering anything: it returns the events in the order
// they came ("$ferry.goaway" on stream 1, "go-away", "ping") and the
// ping's opaque value.
func goingAway(t *testing.T, c *rawConn) ([]string, uint32) {
	t.Helper()
	var seen []string
	for range 1000 {
		f, length, err := gapFrame(c, 10*time.Second)
		require.NoError(t, err)
		switch {
		case f.typ == 0 && f.stream == 1:
			for _, m := range gapMessages(t, f.data) {
				if len(m) >= 2 && m[1] == "$ferry.goaway" {
					seen = append(seen, "$ferry.goaway")
				}
			}
		case f.typ == 3:
			assert.Zero(t, length, "a normal go-away")
			seen = append(seen, "go-away")
		case f.typ == 2 && f.flags&1 != 0:
			return append(seen, "ping"), length
		}
	}
	t.Fatal("no ping within 1000 frames")
	return nil, 0
}

// drainedOn reads frames until the $ferry.drained notification on stream 1
// and returns its params.
func drainedOn(t *testing.T, c *rawConn) []any {
	t.Helper()
	for range 1000 {
		f, _, err := gapFrame(c, 10*time.Second)
		require.NoError(t, err)
		if f.typ != 0 || f.stream != 1 {
			continue
		}
		for _, m := range gapMessages(t, f.data) {
			if len(m) >= 3 && m[1] == "$ferry.drained" {
				assert.EqualValues(t, 2, m[0], "a notification: %v", m)
				params, _ := m[2].([]any)
				return params
			}
		}
	}
	t.Fatal("no $ferry.drained within 1000 frames")
	return nil
}

// nothingOnStream1 asserts that no data comes on stream 1 for d: the
// server is waiting.
func nothingOnStream1(t *testing.T, c *rawConn, d time.Duration, why string) {
	t.Helper()
	end := time.Now().Add(d)
	for range 1000 {
		left := time.Until(end)
		if left <= 0 {
			return
		}
		f, _, err := gapFrame(c, left)
		if isTimeout(err) {
			return
		}
		require.NoError(t, err)
		require.False(t, f.typ == 0 && f.stream == 1 && len(f.data) > 0, "%s: got % x", why, f.data)
	}
}

var helloFrame = request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})

// TestGapGoAwayThenPing checks PROTOCOL.md 4, "Going away", steps 1 and
// 3: "It sends $ferry.goaway on every call stream, then a yamux go-away
// on the session, then a yamux ping", and "The server waits, within its
// shutdown budget, for the ping's answer": a session that does not answer
// the ping gets no $ferry.drained; once it answers, the drain goes on.
func TestGapGoAwayThenPing(t *testing.T) {
	s := newServer(t)
	c := gapSession(t, listen(t, s), helloFrame)
	done := shutdownAsync(s)
	seen, opaque := goingAway(t, c)
	assert.Equal(t, []string{"$ferry.goaway", "go-away", "ping"}, seen)
	nothingOnStream1(t, c, 300*time.Millisecond, "the ping is not answered yet")
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the ping was answered", err)
	default:
	}
	c.write(yamuxFrame(2, 2, 0, opaque))
	assert.Equal(t, []any{int8(1)}, drainedOn(t, c), "the hello was read")
	require.NoError(t, <-done)
}

// TestGapSettled checks PROTOCOL.md 4, "Going away", steps 2 and 3 from
// the server's side: from a client that promised $ferry.settled in its
// hello, the server waits for it after the ping's answer (a stream open
// under way may still reach it meanwhile, and is reset, unread, as
// opened after the go-away), and goes on when it comes; it waits for at
// most the write timeout.
func TestGapSettled(t *testing.T) {
	settleHello := request(1, "$ferry.hello", []any{map[string]any{"settle": true}}, map[string]any{})

	t.Run("opens under way, then settled", func(t *testing.T) {
		s := newServer(t)
		c := gapSession(t, listen(t, s), settleHello)
		done := shutdownAsync(s)
		seen, opaque := goingAway(t, c)
		require.Equal(t, []string{"$ferry.goaway", "go-away", "ping"}, seen)
		c.write(yamuxFrame(2, 2, 0, opaque))
		// An open that was under way when the go-away arrived: its
		// opening frame follows the ping's answer.
		open := append([]byte{0xc1}, request(0, "Echo.Echo", []any{}, map[string]any{})...)
		c.write(yamuxFrame(1, 1, 3, 0), yamuxFrame(0, 0, 3, uint32(len(open))), open)
		var reset bool
		for range 100 {
			f, _, err := gapFrame(c, 10*time.Second)
			require.NoError(t, err)
			require.False(t, f.typ == 0 && f.stream == 1, "nothing on the call stream before $ferry.settled: % x", f.data)
			if f.stream == 3 {
				assert.Equal(t, yamuxFrameSeen{typ: 1, flags: 8, stream: 3}, f, "reset, unread")
				reset = true
				break
			}
		}
		require.True(t, reset)
		nothingOnStream1(t, c, 300*time.Millisecond, "waiting for $ferry.settled")
		c.write(yamuxFrame(0, 0, 1, uint32(len(notification("$ferry.settled", []any{})))), notification("$ferry.settled", []any{}))
		assert.Equal(t, []any{int8(1)}, drainedOn(t, c), "the hello was read; $ferry.settled is a notification")
		require.NoError(t, <-done)
	})

	t.Run("never settled", func(t *testing.T) {
		cfg := transport.DefaultConfig()
		cfg.WriteTimeout = time.Second
		s := newServer(t, server.WithConfig(cfg))
		c := gapSession(t, listen(t, s), settleHello)
		done := shutdownAsync(s)
		_, opaque := goingAway(t, c)
		c.write(yamuxFrame(2, 2, 0, opaque))
		start := time.Now()
		assert.Equal(t, []any{int8(1)}, drainedOn(t, c))
		took := time.Since(start)
		t.Logf("$ferry.drained %v after the ping's answer, without $ferry.settled", took)
		assert.GreaterOrEqual(t, took, cfg.WriteTimeout-200*time.Millisecond, "it waited for $ferry.settled")
		assert.Less(t, took, cfg.WriteTimeout+8*time.Second, "for at most about the write timeout")
		require.NoError(t, <-done)
	})
}

// TestGapDrainedZero checks PROTOCOL.md 4: "$ferry.drained [n] ... (n
// counts every request, control requests included; 0 if none)": a call
// stream on which only a notification came gets $ferry.drained [0] from a
// server that shuts down, and a Ferry client that closes before the
// server called it sends [0] too.
func TestGapDrainedZero(t *testing.T) {
	t.Run("server", func(t *testing.T) {
		s := newServer(t)
		c := gapSession(t, listen(t, s), notification("No.Such", []any{}))
		// No answer tells the stream is served: the server counts it.
		require.Eventually(t, func() bool { return streamsOpen(s) == 1 }, 5*time.Second, time.Millisecond)
		done := shutdownAsync(s)
		_, opaque := goingAway(t, c)
		c.write(yamuxFrame(2, 2, 0, opaque))
		assert.Equal(t, []any{int8(0)}, drainedOn(t, c))
		require.NoError(t, <-done)
	})
	t.Run("client", func(t *testing.T) {
		c, f, _ := dialFake(t)
		require.NoError(t, c.Close())
		m := f.next()
		assert.Equal(t, []any{int8(2), "$ferry.drained", []any{int8(0)}}, m[:3])
	})
}

// TestGapBareHalfClose checks PROTOCOL.md 4 for a spec-only peer: "Once
// the handlers have finished, the server half-closes the connection after
// its last reply, so that the peer reads every reply before the end of
// input, and discards what the peer still sends for up to 250 ms (4 MiB)
// before closing." Three bare connections each wait for a handler while
// the server shuts down; each reads its reply and then the end of input;
// then one sends as fast as it can (closed after at most about 4 MiB
// discarded, plus what the sockets buffer) and one trickles (closed by
// the time bound, long before 4 MiB).
func TestGapBareHalfClose(t *testing.T) {
	s := newServer(t)
	started := make(chan struct{}, 3)
	release := make(chan struct{})
	require.NoError(t, server.Handle(s, "Gap.Hold", func(context.Context, *struct{}) (*string, error) {
		started <- struct{}{}
		<-release
		r := "done"
		return &r, nil
	}))
	addr := listen(t, s)
	conns := make([]*rawConn, 3)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		conns[i].write(request(1, "Gap.Hold", []any{}))
		<-started
	}
	done := shutdownAsync(s)
	close(release)
	for i, c := range conns {
		r := parseResponse(t, c.read())
		assert.Equal(t, "done", r.result, "conn %d", i)
		require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		_, err := c.r.ReadByte()
		require.ErrorIs(t, err, io.EOF, "conn %d: the end of input, after the last reply", i)
	}

	// As fast as it can: at most 128 MiB, for at most 10 s.
	fast := conns[1].conn.(*net.TCPConn)
	require.NoError(t, fast.SetWriteBuffer(64<<10))
	chunk := make([]byte, 64<<10)
	var written int
	var err error
	start := time.Now()
	require.NoError(t, fast.SetWriteDeadline(start.Add(10*time.Second)))
	for written < 128<<20 && err == nil {
		var n int
		n, err = fast.Write(chunk)
		written += n
	}
	took := time.Since(start)
	t.Logf("fast: closed after %.1f MiB, %v (%v)", float64(written)/(1<<20), took, err)
	require.Error(t, err, "the server closed the connection")
	assert.False(t, isTimeout(err), "closed, not stalled: %v", err)
	// 4 MiB discarded, plus the server's receive buffer (a few MiB on
	// loopback; up to 32 MiB allowed for) and this side's send buffer.
	assert.Less(t, written, 36<<20)

	// A trickle: 16 bytes every 10 ms (1.6 KiB/s), for at most 5 s.
	slow := conns[2]
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	written, err = 0, nil
	start = time.Now()
	for i := 0; i < 500 && err == nil; i++ {
		<-tick.C
		require.NoError(t, slow.conn.SetWriteDeadline(time.Now().Add(5*time.Second)))
		var n int
		n, err = slow.conn.Write(chunk[:16])
		written += n
	}
	took = time.Since(start)
	t.Logf("trickle: closed after %d bytes, %v (%v)", written, took, err)
	require.Error(t, err, "the server closed the connection within 5 s")
	// Closed about 250 ms after the half-close, by the time bound and not
	// the byte bound, nor Shutdown's own 1 s bound on closing: 16 bytes
	// a tick, and a loaded machine only skips ticks.
	assert.Less(t, written, 16*75, "closed within 750 ms")
	require.NoError(t, <-done)
}

// TestGapStreamWindow checks PROTOCOL.md 8, "stream window 1 MiB": a
// stream starts at yamux's 256 KiB and the side that accepts it (the
// server) or opens it (a Ferry client) raises its receive window to
// StreamWindow at once, in that frame; the server sends no more than the
// 256 KiB a raw peer's stream starts with until the peer grants more, and
// never lets the peer have more than StreamWindow outstanding.
func TestGapStreamWindow(t *testing.T) {
	const initial = 256 << 10
	for _, window := range []uint32{1 << 20, 512 << 10} {
		cfg := transport.DefaultConfig()
		cfg.StreamWindow = window
		s := newServer(t, server.WithConfig(cfg))
		c := dialRaw(t, listen(t, s))
		c.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(helloFrame))), helloFrame)
		f, delta, err := gapFrame(c, 10*time.Second)
		require.NoError(t, err)
		require.Equal(t, yamuxFrameSeen{typ: 1, flags: 2, stream: 1}, f, "the accept: a window update with ACK")
		assert.EqualValues(t, window-initial, delta, "window %d: raised at once", window)
		if window != 1<<20 {
			continue
		}
		// credit is what the server lets us send; got is what it sent us
		// on the stream (the hello's answer first).
		credit := int64(initial) + int64(delta) - int64(len(helloFrame))
		got := 0
		read := func(d time.Duration) error {
			f, length, err := gapFrame(c, d)
			if err != nil {
				return err
			}
			switch {
			case f.typ == 1 && f.stream == 1:
				credit += int64(length)
				require.LessOrEqual(t, credit, int64(window), "never more than StreamWindow outstanding")
			case f.typ == 0 && f.stream == 1:
				got += len(f.data)
			}
			return nil
		}
		for got == 0 {
			require.NoError(t, read(10*time.Second))
		}
		answer := got
		msg := wholeEcho(2, 900<<10)
		require.LessOrEqual(t, int64(len(msg)), credit)
		c.write(yamuxFrame(0, 0, 1, uint32(len(msg))), msg)
		credit -= int64(len(msg))
		// Nothing granted yet: 256 KiB of the reply, and no more.
		for range 1000 {
			if got >= initial {
				break
			}
			require.NoError(t, read(10*time.Second))
		}
		for range 1000 {
			err := read(300 * time.Millisecond)
			if isTimeout(err) {
				break
			}
			require.NoError(t, err)
		}
		assert.Equal(t, initial, got, "the reply stops at the 256 KiB our stream started with")
		c.write(yamuxFrame(1, 0, 1, 1<<20))
		// The reply [1, 2, nil, bin] is 14 bytes shorter than the request
		// [0, 2 (uint32), "Echo.Echo", [bin]].
		want := answer + len(msg) - 14
		for range 1000 {
			if got >= want {
				break
			}
			require.NoError(t, read(10*time.Second))
		}
		assert.Equal(t, want, got)
	}

	t.Run("client", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer l.Close()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		dialed := make(chan struct{})
		go func() {
			defer close(dialed)
			c, err := client.Dial(ctx, l.Addr().String())
			if err == nil {
				c.Close()
			}
		}()
		conn, err := l.Accept()
		require.NoError(t, err)
		defer conn.Close()
		c := &rawConn{t: t, conn: conn, r: bufio.NewReader(conn)}
		f, delta, err := gapFrame(c, 10*time.Second)
		require.NoError(t, err)
		assert.Equal(t, yamuxFrameSeen{typ: 1, flags: 1, stream: 1}, f, "the open: a window update with SYN")
		assert.EqualValues(t, 1<<20-initial, delta, "raised to 1 MiB at once")
		cancel()
		conn.Close()
		<-dialed
	})
}

// TestGapSubscriberJustCloses checks PROTOCOL.md 9: "A subscriber that
// just closes its stream gets no final count": a subscriber that gives up
// as section 6 says a caller does ($ferry.cancelstream on its call
// stream, and it closes the stream), after its request and [4] or before
// its [4], sees the stream end without a final status, and the broker
// drops the subscription.
func TestGapSubscriberJustCloses(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	b := pubsub.NewBroker()
	require.NoError(t, b.Register(s))
	ws := dialSession(t, listen(t, s))
	for i, sendEnd := range []bool{false, true} {
		sub := ws.openCall("PubSub.Subscribe")
		sub.write(frame(map[string]any{"topic": "t"}))
		if sendEnd {
			sub.write(closeSend)
		}
		first := sub.read()
		require.Len(t, first, 2)
		id := field(t, first[1], "id")
		require.NotEmpty(t, id)
		require.Equal(t, 1, b.Subscribers("t"))
		ws.call.write(notification("$ferry.cancelstream", []any{sub.st.StreamID()}))
		require.NoError(t, sub.st.Close())
		require.NoError(t, sub.st.SetReadDeadline(time.Now().Add(10*time.Second)))
		rest, err := io.ReadAll(sub.r)
		require.NoError(t, err, "the stream ends (EOF), [4] sent: %v", sendEnd)
		for _, m := range gapMessages(t, rest) {
			assert.NotEqualValues(t, 1, m[0], "no final status after the subscriber closed ([4] sent: %v): %v", sendEnd, m)
		}
		require.Eventually(t, func() bool { return b.Subscribers("t") == 0 }, 5*time.Second, time.Millisecond)
		r := parseResponse(t, ws.call.read2(request(uint32(10+i), "PubSub.Unsubscribe", []any{id}, map[string]any{})))
		assert.Equal(t, false, r.result, "the subscription already ended")
	}
}

// TestGapDirectCountsSessionFrames checks PROTOCOL.md 5: a large bin's
// body "may be read straight into that slice once ... at least an eighth
// of the body has arrived (a session counts the data frames it was
// announced in)": what arrived counts whether the reader has read it or
// the session still holds it. A raw session sends the head of a 512 KiB
// bin and L bytes of its body in one data frame, then stalls:
// with L an eighth of the body the body goes direct (its whole array is
// charged at once, though the reader itself has read a few KiB of it at
// most), with L 1 KiB short of that it is read as a whole message, whose
// buffer holds what arrived. Both calls are answered, the body intact,
// once the rest arrives.
func TestGapDirectCountsSessionFrames(t *testing.T) {
	const n = 512 << 10
	s := directServer(t)
	addr := listen(t, s)
	for _, tc := range []struct {
		sent   int
		direct bool
	}{{n / 8, true}, {n/8 - 1<<10, false}} {
		body := pattern(n, byte(tc.sent))
		c := dialRaw(t, addr)
		// A stream's first message is always read whole.
		first := bytesRequest(1, 10, 10, nil)
		c.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(first))), first)
		c.frameWhere(func(f yamuxFrameSeen) bool { return f.stream == 1 && len(f.data) > 0 })
		head := bytesRequest(2, n, 0, nil)
		// One frame: the reader sees the head only once all of it is in.
		c.write(yamuxFrame(0, 0, 1, uint32(len(head)+tc.sent)), head, body[:tc.sent])
		var peak atomic.Int64
		if tc.direct {
			require.Eventually(t, func() bool { raise(&peak, memoryInUse(s)); return peak.Load() >= n }, 5*time.Second, time.Millisecond,
				"%d bytes sent: the body's array is charged at once", tc.sent)
		} else {
			assert.Never(t, func() bool { raise(&peak, memoryInUse(s)); return peak.Load() >= n/2 }, 300*time.Millisecond, 5*time.Millisecond,
				"%d bytes sent: read whole, holding what arrived", tc.sent)
		}
		t.Logf("%d KiB of the body sent: budget in use up to %d KiB", tc.sent>>10, peak.Load()>>10)
		// The rest of the body, and window for the reply.
		c.write(yamuxFrame(0, 0, 1, uint32(n-tc.sent)), body[tc.sent:], yamuxFrame(1, 0, 1, 1<<20))
		var reply []byte
		for range 10_000 {
			f := c.frame()
			if f.stream == 1 && f.typ == 0 {
				reply = append(reply, f.data...)
				if len(reply) >= n {
					break
				}
			}
		}
		var msg []any
		require.NoError(t, msgpack.Unmarshal(reply, &msg))
		require.Len(t, msg, 4)
		assert.Nil(t, msg[2])
		got, _ := msg[3].([]byte)
		assert.True(t, bytes.Equal(body, got), "%d bytes sent first: the body arrives intact", tc.sent)
		c.conn.Close()
	}
}

// TestGapClientSettlesAfterOpens checks PROTOCOL.md 4, "Going away", step
// 2, from a fake server: "a Ferry client that reads $ferry.goaway stops
// opening streams, waits for the opens under way to send their opening
// frames, and then sends $ferry.settled on the call stream: every stream
// it opened has reached the server before it." The fake accepts no
// stream until it has sent the go-away, so that past the client's accept
// backlog (64) opens are held under way; every stream the client opened
// is then among those the fake's session had seen when $ferry.settled
// arrived. (The streams stay open: one the client closed before the fake
// accepted it gets no ACK from yamux, and holds its backlog slot until the
// fake closes it too.)
func TestGapClientSettlesAfterOpens(t *testing.T) {
	c, f, hello := dialFake(t)
	params, _ := hello[3].([]any)
	require.Len(t, params, 1)
	assert.Equal(t, true, field(t, params[0], "settle"), "the hello promises $ferry.settled")
	const opens = 80
	var opened atomic.Int64
	results := make(chan error, opens)
	for range opens {
		go func() {
			st, err := c.NewStream(t.Context(), "S.M")
			if err == nil {
				opened.Add(1)
				t.Cleanup(func() { st.Close() })
			}
			results <- err
		}()
	}
	// 64 open, not accepted; the rest wait for room.
	require.Eventually(t, func() bool { return f.sess.NumStreams() >= 1+64 }, 5*time.Second, time.Millisecond)
	f.call.write(notification("$ferry.goaway", []any{}))
	var accepted atomic.Int64
	go func() {
		for {
			st, err := f.sess.AcceptStream()
			if err != nil {
				return
			}
			accepted.Add(1)
			t.Cleanup(func() { st.Close() })
		}
	}()
	var seen int
	for range 1000 {
		require.NoError(t, f.call.st.SetReadDeadline(time.Now().Add(5*time.Second)))
		var m []any
		if err := msgpack.NewDecoder(f.call.r).Decode(&m); err != nil {
			t.Fatalf("no $ferry.settled: %v; %d streams opened, %d accepted", err, opened.Load(), accepted.Load())
		}
		if len(m) >= 2 && m[1] == "$ferry.settled" {
			seen = f.sess.NumStreams() - 1 // less the call stream
			break
		}
	}
	var failed int
	for range opens {
		if err := <-results; err != nil {
			failed++
			assert.True(t, ferry.NotExecuted(err), "%v", err)
		}
	}
	t.Logf("%d streams opened, %d failed, %d seen before $ferry.settled", opened.Load(), failed, seen)
	assert.Greater(t, opened.Load(), int64(64), "opens under way at the go-away went on")
	assert.LessOrEqual(t, opened.Load(), int64(seen), "every stream opened reached the server before $ferry.settled")
}
