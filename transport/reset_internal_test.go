package transport

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestResetBeforeAcceptReleased: a raw peer opens streams and resets each
// before the server accepts it. yamux still hands them to Accept; the
// server reads their end and closes them, as Ferry's accept loop does.
// Nothing of them may stay charged or kept: before the fix, each left its
// 1 KiB stream overhead charged and its Stream in the session's closed
// set until the session ended, so a peer repeating this eroded its own
// budget until the session was shed.
func TestResetBeforeAcceptReleased(t *testing.T) {
	defer goleak.VerifyNone(t)
	ss, b := rawPeerServer(t)
	defer ss.Close()
	base := ss.Budget().Used()

	const n = 32 // under the open burst and the accept backlog
	for i := range n {
		id := uint32(2*i + 1)
		_, err := b.Write(frame(1, flagSYN, id, 0)) // open
		require.NoError(t, err)
		_, err = b.Write(frame(1, flagRST, id, 0)) // and reset at once
		require.NoError(t, err)
	}
	for range n {
		c, err := ss.Accept()
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = c.Read(make([]byte, 1))
		require.Error(t, err, "a reset stream reads an error")
		require.NoError(t, c.Close())
	}
	assert.Equal(t, base, ss.Budget().Used(), "budget charged for streams that are gone")
	ss.mu.Lock()
	kept := len(ss.closed)
	ss.mu.Unlock()
	assert.Zero(t, kept, "closed streams kept waiting for a peer close that cannot come")
	ss.g.acct.mu.Lock()
	tracked := len(ss.g.acct.streams)
	ss.g.acct.mu.Unlock()
	assert.Zero(t, tracked)
	_ = b.Close()
}

// TestResetAfterAcceptNotKept: a raw peer opens streams one at a time and
// resets each once the server has accepted it; the server reads the reset
// and closes the stream. None may stay in the session's closed set: yamux
// forgot each stream before this side closed it, so no forget follows.
// Before the fix every such stream stayed there, with its yamux stream,
// until the session ended (not charged to the budget): a peer could grow
// the server's memory by opening and resetting streams.
func TestResetAfterAcceptNotKept(t *testing.T) {
	defer goleak.VerifyNone(t)
	ss, b := rawPeerServer(t)
	defer ss.Close()
	base := ss.Budget().Used()

	const n = 100
	for i := range n {
		id := uint32(2*i + 1)
		_, err := b.Write(frame(1, flagSYN, id, 0))
		require.NoError(t, err)
		c, err := ss.Accept()
		require.NoError(t, err)
		_, err = b.Write(frame(1, flagRST, id, 0))
		require.NoError(t, err)
		require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
		_, err = c.Read(make([]byte, 1))
		require.Error(t, err, "a reset stream reads an error")
		require.NoError(t, c.Close())
	}
	ss.mu.Lock()
	kept := len(ss.closed)
	ss.mu.Unlock()
	assert.Zero(t, kept, "closed streams that yamux already forgot")
	ss.g.acct.mu.Lock()
	tracked := len(ss.g.acct.streams)
	ss.g.acct.mu.Unlock()
	assert.Zero(t, tracked)
	assert.Equal(t, base, ss.Budget().Used())
	_ = b.Close()
}
