package e2e_test

import (
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readPingAck reads session frames from c until the ack of the ping with
// value opaque, for at most 5 s and 100,000 frames; it reports whether one
// came before the server closed the connection.
func readPingAck(t *testing.T, c *rawConn, opaque uint32) bool {
	t.Helper()
	require.NoError(t, c.conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	h := make([]byte, 12)
	for range 100_000 {
		if _, err := io.ReadFull(c.r, h); err != nil {
			return false
		}
		typ, flags := h[1], binary.BigEndian.Uint16(h[2:])
		length := binary.BigEndian.Uint32(h[8:])
		switch {
		case typ == 2 && flags&2 != 0 && length == opaque:
			return true
		case typ == 0:
			if _, err := io.CopyN(io.Discard, c.r, int64(length)); err != nil {
				return false
			}
		}
	}
	return false
}

// TestDocsSessionGuard checks PROTOCOL.md 7 and SECURITY.md against
// the example server, from a raw socket speaking yamux frames: "more than
// 16 pings per second (burst 64), more than 2,000 stream opens per second
// (burst 4,096) ... or a malformed frame header end the session."
func TestDocsSessionGuard(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	pings := func(from, n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, yamuxFrame(2, 1, 0, uint32(from+i))...)
		}
		return b
	}

	t.Run("Pings", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		c.write(pings(1, 64))
		assert.True(t, readPingAck(t, c, 64), "a burst of 64 pings is answered")
		_ = c.writeMay(pings(100, 200))
		assert.False(t, readPingAck(t, c, 299), "200 more pings at once end the session")
		c.discardUntilClosed(5 * time.Second)
	})

	t.Run("StreamOpens", func(t *testing.T) {
		c := dialRaw(t, srv.addr)
		var syns []byte
		for i := range 4000 {
			syns = append(syns, yamuxFrame(1, 1, uint32(2*i+1), 0)...)
		}
		c.write(syns, yamuxFrame(2, 1, 0, 7))
		assert.True(t, readPingAck(t, c, 7), "a burst of 4,000 stream opens leaves the session alive")
		syns = syns[:0]
		for i := range 10_000 {
			syns = append(syns, yamuxFrame(1, 1, uint32(8001+2*i), 0)...)
		}
		_ = c.writeMay(append(syns, yamuxFrame(2, 1, 0, 8)...))
		assert.False(t, readPingAck(t, c, 8), "10,000 more opens at once end the session")
		c.discardUntilClosed(5 * time.Second)
	})

	t.Run("MalformedHeaders", func(t *testing.T) {
		for name, h := range map[string][]byte{
			"version 1":         {1, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0},
			"type 4":            {0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			"type 255":          {0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
			"even stream opens": yamuxFrame(1, 1, 2, 0),
		} {
			c := dialRaw(t, srv.addr)
			c.write(yamuxFrame(2, 1, 0, 1))
			require.True(t, readPingAck(t, c, 1), name)
			c.write(h, yamuxFrame(2, 1, 0, 2))
			assert.False(t, readPingAck(t, c, 2), "%s ends the session", name)
			c.discardUntilClosed(5 * time.Second)
		}
	})
}
