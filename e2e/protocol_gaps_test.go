package e2e_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

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
