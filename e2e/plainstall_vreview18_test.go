package e2e_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview18PlainClientStallTimerOnlyStalls:
// transport.Config.PartialMessageTimeout bounds how long a bare
// connection "may hold part of a message without sending more of it": a
// client speaking bare MessagePack-RPC keeps an idle connection however
// long it is idle, and takes a large reply that arrives slowly but
// steadily, in pieces closer together than the timeout, for far longer
// than the timeout in all: into a []byte (read straight into it) and
// into an any (decoded from the whole message).
func TestVreview18PlainClientStallTimerOnlyStalls(t *testing.T) {
	stall := 300 * time.Millisecond
	c, srv := plainClientAndRawServer(t, stall)

	<-time.After(3 * stall) // idle: nothing is partial
	const size, pieces = 256 << 10, 16
	reply := func(head []byte) {
		msg := srv.read()
		id, ok := toUint(msg[1])
		require.True(t, ok)
		srv.write(append([]byte{0x94, 0x01, byte(id), 0xc0}, head...))
		piece := make([]byte, size/pieces)
		for range pieces {
			<-time.After(stall / 6)
			srv.write(piece)
		}
	}
	start := time.Now()
	var b []byte
	call := c.Go(t.Context(), "Slow.Bytes", nil, &b)
	reply(binHeader(size))
	<-call.Done()
	require.NoError(t, call.Err(), "after %v", time.Since(start))
	assert.Len(t, b, size)

	str := binary.BigEndian.AppendUint32([]byte{0xdb}, size)
	var v any
	call = c.Go(t.Context(), "Slow.Any", nil, &v)
	reply(str)
	<-call.Done()
	require.NoError(t, call.Err())
	assert.Len(t, v, size)
	t.Logf("two replies of 256 KiB in 16 pieces 50 ms apart (timeout 300 ms): %v", time.Since(start).Round(time.Millisecond))
}
