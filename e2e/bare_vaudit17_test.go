package e2e_test

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit17BareHalfCloseStillAnswered: PROTOCOL.md 2, a peer that
// half-closes after its last request still gets every answer, a running
// handler's included, and then the end of the connection; a half-close
// in the middle of a message gets none.
func TestVaudit17BareHalfCloseStillAnswered(t *testing.T) {
	s := newServer(t)
	addr := listen(t, s)
	c := dialRaw(t, addr)
	c.write(request(1, "Echo.Sleep", []any{300}), request(2, "Arith.Add", []any{1, 2}), notification("Arith.Add", []any{3, 4}))
	start := time.Now()
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	got := map[uint64]any{}
	for range 2 {
		r := parseResponse(t, c.read())
		assert.Nil(t, r.err, "%d", r.msgid)
		got[r.msgid] = r.result
	}
	assert.Equal(t, map[uint64]any{1: true, 2: int8(3)}, got)
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "the running handler was waited for")
	took, n := c.discardUntilClosed(5 * time.Second)
	assert.Zero(t, n)
	t.Logf("closed %v after the last answer", took)

	c = dialRaw(t, addr)
	req := request(3, "Arith.Add", []any{1, 2})
	c.write(req[:len(req)-1])
	require.NoError(t, c.conn.(*net.TCPConn).CloseWrite())
	c.closedWithin(5 * time.Second)
}
