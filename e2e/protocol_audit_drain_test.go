package e2e_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestProtocolAuditGoingAway checks PROTOCOL.md 4, "Going away", step 1
// against the example server: after $ferry.goaway comes a yamux go-away
// (the session opens no more streams), a streaming call on a stream opened
// before it is refused unavailable, "n": true, and a peer that uses
// extensions on a bare connection gets its refusals flagged too.
func TestProtocolAuditGoingAway(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	ws := dialSession(t, srv.addr)
	chat := ws.openCall("Echo.Chat") // keeps the drain waiting
	chat.write(frame("a"))
	require.Equal(t, []any{int8(3), "a"}, chat.read())
	early := ws.open() // opened before the go-away; its opening request comes after
	bare := dialRaw(t, srv.addr)
	require.EqualValues(t, 3, bare.call(request(1, "Arith.Add", []any{1, 2}, map[string]any{})).result)
	// A session in raw frames, to open a stream after the yamux go-away.
	raw := dialRaw(t, srv.addr)
	hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
	raw.write(yamuxFrame(1, 1, 1, 0), yamuxFrame(0, 0, 1, uint32(len(hello))), hello)
	raw.frameWhere(func(f yamuxFrameSeen) bool { return f.stream == 1 && len(f.data) > 0 }) // the hello's answer

	require.NoError(t, srv.cmd.Process.Signal(sigterm))
	// "A stream opened after it is reset by yamux, unread."
	raw.frameWhere(func(f yamuxFrameSeen) bool { return f.typ == 3 })
	open := append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...)
	raw.write(yamuxFrame(1, 1, 3, 0), yamuxFrame(0, 0, 3, uint32(len(open))), open)
	f := raw.frameWhere(func(f yamuxFrameSeen) bool { return f.stream == 3 })
	assert.Equal(t, yamuxFrameSeen{typ: 1, flags: 8, stream: 3}, f, "a window update with RST")
	// The drain's ping may come after that reset (on a loaded machine it
	// did): a peer that left it unanswered would hold the server's drain
	// for the write timeout, the example's whole -grace.
	raw.answerPings()
	msg := ws.call.read()
	require.GreaterOrEqual(t, len(msg), 3, "%v", msg)
	require.Equal(t, "$ferry.goaway", msg[1])
	require.Equal(t, []any{}, msg[2], "params []")

	// The yamux go-away follows on the session: it opens no more streams.
	require.Eventually(t, func() bool {
		st, err := ws.sess.OpenStream()
		if err == nil {
			st.Close()
		}
		return errors.Is(err, yamux.ErrRemoteGoAway)
	}, 5*time.Second, 5*time.Millisecond)

	early.write(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...))
	_, r := early.status()
	assert.EqualValues(t, 14, r.code(), "unavailable: %v", r.err)
	assert.Equal(t, true, r.ext["n"])
	early.ended()

	refused := false
	for i := range 200 {
		r = bare.call(request(uint32(10+i), "Arith.Add", []any{1, 2}, map[string]any{}))
		if r.err != nil {
			assert.Equal(t, "the server is shutting down", r.err)
			assert.EqualValues(t, 14, r.code())
			assert.Equal(t, true, r.ext["n"], "refused for going away: not executed")
			refused = true
			break
		}
	}
	assert.True(t, refused, "a bare request was refused during the drain")

	chat.writeLast(closeSend) // the last call: the server may close the session at once
	_, r = chat.status()
	assert.Nil(t, r.err)
	chat.ended()
	msg = ws.call.read()
	assert.Equal(t, "$ferry.drained", msg[1], "%v", msg)
	require.NoError(t, srv.wait(t, 15*time.Second), "stderr: %s", srv.stderr)
}

// TestProtocolAuditPeerGoAway checks PROTOCOL.md 4 with the roles
// swapped: a client's $ferry.goaway on its call stream means "send no new
// requests on this stream", so the server's calls to it fail at once, not
// executed; and the server answers a $ferry.drained from it by failing
// the calls the client never read.
func TestProtocolAuditPeerGoAway(t *testing.T) {
	s, peers := peerServer(t)
	ws := dialSession(t, listen(t, s))
	p := <-peers
	// A call the client reads, and leaves unanswered.
	first := p.Go(t.Context(), "C.First", nil, nil)
	m := ws.call.read()
	require.Equal(t, "C.First", m[2])
	ws.call.write(notification("$ferry.goaway", []any{}))
	// The server reads its call stream in order: once it answered a
	// request sent after the go-away, it has read the go-away.
	r := parseResponse(t, ws.call.read2(request(2, "Arith.Add", []any{1, 2}, map[string]any{})))
	require.EqualValues(t, 3, r.result)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := p.Call(ctx, "C.Second", nil, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "calls after the go-away fail, not executed: %v", err)
	// The client read one request (C.First): $ferry.drained [1] leaves it
	// running, until the stream ends without its answer.
	ws.call.write(notification("$ferry.drained", []any{1}))
	select {
	case <-first.Done():
		t.Fatalf("a call the client read ended at its drained: %v", first.Err())
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, ws.call.st.Close())
	err = first.Wait()
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err), "outcome unknown: %v", err)
}

// yamuxFrameSeen is one session frame the server sent.
type yamuxFrameSeen struct {
	typ    byte
	flags  uint16
	stream uint32
	data   []byte // a data frame's payload
}

// frame reads the next session frame on a raw connection, answering the
// server's pings; it fails the test when none comes within 10 s.
func (c *rawConn) frame() yamuxFrameSeen {
	c.t.Helper()
	for range 10_000 {
		require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
		h := make([]byte, 12)
		_, err := io.ReadFull(c.r, h)
		require.NoError(c.t, err)
		f := yamuxFrameSeen{typ: h[1], flags: binary.BigEndian.Uint16(h[2:]), stream: binary.BigEndian.Uint32(h[4:])}
		length := binary.BigEndian.Uint32(h[8:])
		switch {
		case f.typ == 0 && length > 0:
			f.data = make([]byte, length)
			_, err := io.ReadFull(c.r, f.data)
			require.NoError(c.t, err)
		case f.typ == 2 && f.flags&1 != 0:
			c.write(yamuxFrame(2, 2, 0, length))
			continue
		}
		return f
	}
	c.t.Fatal("only pings")
	return yamuxFrameSeen{}
}

// answerPings reads the session's frames in the background, answering
// the server's pings as a yamux peer does, until the connection ends (or
// 30 s, or 100,000 frames); the test's cleanup closes the connection and
// waits for it. The test reads and writes c no more.
func (c *rawConn) answerPings() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		h := make([]byte, 12)
		end := time.Now().Add(30 * time.Second)
		for range 100_000 {
			_ = c.conn.SetReadDeadline(end)
			if _, err := io.ReadFull(c.r, h); err != nil {
				return
			}
			length := binary.BigEndian.Uint32(h[8:])
			switch {
			case h[1] == 0:
				if _, err := io.CopyN(io.Discard, c.r, int64(length)); err != nil {
					return
				}
			case h[1] == 2 && binary.BigEndian.Uint16(h[2:])&1 != 0:
				_ = c.conn.SetWriteDeadline(end)
				if _, err := c.conn.Write(yamuxFrame(2, 2, 0, length)); err != nil {
					return
				}
			}
		}
	}()
	c.t.Cleanup(func() {
		c.conn.Close()
		<-done
	})
}

// frameWhere reads session frames until one for which ok is true, for at
// most 10,000 frames.
func (c *rawConn) frameWhere(ok func(yamuxFrameSeen) bool) yamuxFrameSeen {
	c.t.Helper()
	for range 10_000 {
		if f := c.frame(); ok(f) {
			return f
		}
	}
	c.t.Fatal("no such frame within 10,000")
	return yamuxFrameSeen{}
}

// TestProtocolAuditTLSSniffTimeout checks PROTOCOL.md 7: "With TLS ... the
// handshake, the first byte and the hello must complete within
// SniffTimeout": a connection stuck at any of the three is closed once
// SniffTimeout (here 1 s) has passed, and not before.
func TestProtocolAuditTLSSniffTimeout(t *testing.T) {
	const sniff = time.Second
	ca := testcerts.NewCA("audit")
	tcfg := &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})},
		MinVersion:   tls.VersionTLS12,
	}
	cfg := transport.DefaultConfig()
	cfg.SniffTimeout = sniff
	s := server.New(server.WithTLS(tcfg), server.WithConfig(cfg))
	t.Cleanup(func() { s.Close() })
	addr := listen(t, s)
	handshake := func(t *testing.T) *tls.Conn {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12})
		require.NoError(t, err)
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	for name, stall := range map[string]func(t *testing.T) net.Conn{
		"in the handshake": func(t *testing.T) net.Conn {
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			t.Cleanup(func() { conn.Close() })
			return conn
		},
		"before the first byte": func(t *testing.T) net.Conn { return handshake(t) },
		"before the hello": func(t *testing.T) net.Conn {
			conn := handshake(t)
			_, err := conn.Write([]byte{0x00})
			require.NoError(t, err)
			return conn
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			conn := stall(t)
			waitClosed(t, conn, 10*time.Second)
			took := time.Since(start)
			t.Logf("closed after %v", took)
			assert.GreaterOrEqual(t, took, sniff-100*time.Millisecond, "not before SniffTimeout")
			assert.Less(t, took, sniff+3*time.Second)
		})
	}
}
