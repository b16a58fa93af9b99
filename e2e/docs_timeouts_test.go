package e2e_test

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docTimeout is SniffTimeout's and PartialMessageTimeout's default as the
// docs give them (10 s).
const docTimeout = 10 * time.Second

// TestDocsHandshakeAndStallTimeouts checks, against the example server
// with its defaults, that connections which never finish a message are
// closed after 10 s (PROTOCOL.md 1, 5 and 7; SECURITY.md's "handshake" and
// "a message that stalls" rows), and that an idle connection which did is
// not. The cases run side by side: the test takes about 12 s.
func TestDocsHandshakeAndStallTimeouts(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the 10 s defaults")
	}
	srv := startArith(t, buildArithServer(t))
	closedAfter := func(t *testing.T, first ...[]byte) {
		c := dialRaw(t, srv.addr)
		start := time.Now()
		c.write(first...)
		_, n := c.discardUntilClosed(docTimeout + 10*time.Second)
		took := time.Since(start)
		if len(first) == 0 || first[0][0] != 0x00 {
			assert.Zero(t, n, "a bare connection is closed without a reply")
		}
		t.Logf("closed after %v", took)
		assert.GreaterOrEqual(t, took, docTimeout-time.Second, "not before the timeout")
	}
	t.Run("NoFirstByte", func(t *testing.T) {
		t.Parallel()
		closedAfter(t)
	})
	t.Run("SessionWithoutAMessage", func(t *testing.T) {
		// "A session must send a complete message (a Ferry client's hello)
		// within SniffTimeout of its first byte, or it is closed."
		t.Parallel()
		closedAfter(t, []byte{0x00})
	})
	t.Run("SessionWithAPartialHello", func(t *testing.T) {
		t.Parallel()
		hello := request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{})
		// A window update that opens stream 1, then part of the hello on it.
		syn := yamuxFrame(1, 1, 1, 0)
		data := append(yamuxFrame(0, 0, 1, uint32(len(hello)-1)), hello[:len(hello)-1]...)
		closedAfter(t, syn, data)
	})
	t.Run("BarePartialMessage", func(t *testing.T) {
		// "A peer that holds part of a message without sending more of it
		// for PartialMessageTimeout (10 s) has ... (bare: the connection)
		// closed."
		t.Parallel()
		req := request(1, "Arith.Add", []any{1, 2})
		closedAfter(t, req[:len(req)-1])
	})
	t.Run("SessionStreamPartialMessage", func(t *testing.T) {
		// The same on a session: the stream holding the partial message is
		// closed, and the session goes on.
		t.Parallel()
		s := dialSession(t, srv.addr)
		st := s.openCall("Counter.Count")
		req := frame(3)
		start := time.Now()
		st.write(req[:len(req)-1])
		require.NoError(t, st.st.SetReadDeadline(time.Now().Add(docTimeout+10*time.Second)))
		_, err := io.Copy(io.Discard, st.r)
		took := time.Since(start)
		t.Logf("stream ended after %v: %v", took, err)
		var ne interface{ Timeout() bool }
		require.False(t, errorsAsTimeout(err, &ne), "the stream was not closed")
		assert.GreaterOrEqual(t, took, docTimeout-time.Second, "not before the timeout")
		st = s.openCall("Counter.Count")
		st.write(frame(2), closeSend)
		msgs, _ := st.status()
		assert.Len(t, msgs, 2, "the session goes on")
	})
	t.Run("BareIdleAfterACompleteMessageStaysOpen", func(t *testing.T) {
		t.Parallel()
		c := dialRaw(t, srv.addr)
		r := c.call(request(1, "Arith.Add", []any{1, 2}))
		require.EqualValues(t, 3, r.result)
		// Wait past both timeouts without a sleep: a read that times out.
		require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(docTimeout+2*time.Second)))
		_, err := c.r.ReadByte()
		var ne interface{ Timeout() bool }
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout(), "the server closed an idle connection: %v", err)
		r = c.call(request(2, "Arith.Add", []any{2, 2}))
		assert.EqualValues(t, 4, r.result)
	})
}
