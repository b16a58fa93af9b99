package transport

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// frame is a yamux frame header: version 0, type, flags, stream id, length.
func frame(typ byte, flags uint16, id, length uint32) []byte {
	h := []byte{0, typ}
	h = binary.BigEndian.AppendUint16(h, flags)
	h = binary.BigEndian.AppendUint32(h, id)
	return binary.BigEndian.AppendUint32(h, length)
}

func testGuard(accepting bool) *guard {
	return newGuard(nil, accepting, NewBudget(0, nil), time.Minute)
}

// TestGuardPingFlood: a burst of pings passes, one more breaks the limit.
func TestGuardPingFlood(t *testing.T) {
	g := testGuard(true)
	var err error
	i := 0
	for ; i < 2*pingBurst && err == nil; i++ { // the bucket refills as this runs
		err = g.inspect(frame(2, flagSYN, 0, uint32(i)))
	}
	require.ErrorIs(t, err, ErrHostilePeer)
	assert.Greater(t, i, pingBurst)
	g = testGuard(true)
	// Ping answers (ACK, no SYN) are not limited.
	require.NoError(t, g.inspect(frame(2, 2, 0, 1)))
}

// TestGuardOpenRate: a burst of stream opens passes, one more breaks the
// limit.
func TestGuardOpenRate(t *testing.T) {
	g := testGuard(true)
	var err error
	i := 0
	for ; i < 2*openBurst && err == nil; i++ { // the bucket refills as this runs
		err = g.inspect(frame(1, flagSYN, uint32(2*i+1), 0))
	}
	require.ErrorIs(t, err, ErrHostilePeer)
	assert.Contains(t, err.Error(), "streams opened per second")
	assert.Greater(t, i, openBurst)
}

// TestGuardStreamIDs: an accepting side refuses streams with even ids
// (its own); a dialing side takes them.
func TestGuardStreamIDs(t *testing.T) {
	require.ErrorIs(t, testGuard(true).inspect(frame(0, flagSYN, 2, 0)), ErrHostilePeer)
	require.NoError(t, testGuard(true).inspect(frame(0, flagSYN, 3, 0)))
	require.NoError(t, testGuard(false).inspect(frame(1, flagSYN, 2, 0)))
}

// TestGuardBadFrames: an unknown version or frame type ends the session.
func TestGuardBadFrames(t *testing.T) {
	h := frame(0, 0, 1, 0)
	h[0] = 1
	require.ErrorIs(t, testGuard(true).inspect(h), ErrHostilePeer)
	require.ErrorIs(t, testGuard(true).inspect(frame(4, 0, 1, 0)), ErrHostilePeer)
}

// TestGuardSplitFrames: headers split across reads are parsed the same,
// and data bodies (whatever bytes they hold) are skipped, not parsed.
func TestGuardSplitFrames(t *testing.T) {
	body := frame(9, 0, 0, 0) // looks like a bad header, but is data
	var b []byte
	b = append(b, frame(0, flagSYN, 1, uint32(len(body)))...)
	b = append(b, body...)
	for range 2 * pingBurst {
		b = append(b, frame(2, flagSYN, 0, 1)...)
	}
	g := testGuard(true)
	var err error
	for i := range b {
		if err = g.inspect(b[i : i+1]); err != nil {
			break
		}
	}
	require.ErrorIs(t, err, ErrHostilePeer)
	assert.Contains(t, err.Error(), "pings per second", "only the ping past the burst fails")
}

// TestGuardAccounts: data sent on a stream the peer opened is charged
// (twice, for the buffer's slack, plus the stream's overhead) until it is
// read, and the rest when the stream is reset.
func TestGuardAccounts(t *testing.T) {
	b := NewBudget(0, nil)
	g := newGuard(nil, true, b, time.Minute)
	require.NoError(t, g.inspect(frame(1, flagSYN, 1, 0)))
	assert.Equal(t, int64(streamOverhead), b.Used())
	require.NoError(t, g.inspect(append(frame(0, 0, 1, 100), make([]byte, 100)...)))
	assert.Equal(t, int64(streamOverhead+slack*100), b.Used())
	g.acct.read(1, 40)
	assert.Equal(t, int64(streamOverhead+slack*60), b.Used())
	require.NoError(t, g.inspect(frame(1, flagRST, 1, 0)))
	assert.Zero(t, b.Used())
}

// TestGuardBudget: data past the budget ends the session with
// ErrMemoryBudget.
func TestGuardBudget(t *testing.T) {
	g := newGuard(nil, true, NewBudget(4<<10, nil), time.Minute)
	require.NoError(t, g.inspect(frame(1, flagSYN, 1, 0)))
	require.ErrorIs(t, g.inspect(frame(0, 0, 1, 4<<10)), ErrMemoryBudget)
}

// TestGuardRead: a broken limit ends reads with the guard's error, closes
// the connection and calls onEnd once, before yamux sees the error.
func TestGuardRead(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	g := newGuard(a, true, NewBudget(0, nil), time.Minute)
	var ends atomic.Int32
	g.onEnd = func() { ends.Add(1) }
	go func() { _, _ = b.Write(frame(0, flagSYN, 2, 0)) }()
	buf := make([]byte, 64)
	n, err := g.Read(buf)
	assert.Zero(t, n)
	require.ErrorIs(t, err, ErrHostilePeer)
	require.ErrorIs(t, g.readCause(), ErrHostilePeer)
	_, err = g.Read(buf)
	require.Error(t, err, "the connection is closed")
	assert.Equal(t, int32(1), ends.Load())
}
