package transport

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// gateConn holds back the return of the write of this side's first
// stream-opening frame until every byte of the peer's answer, total
// bytes, has passed the guard and yamux has handled it (yamux reads
// again): the peer answers, and closes the stream, before Open returns.
type gateConn struct {
	net.Conn
	total     int
	processed chan struct{}
	timedOut  bool

	mu     sync.Mutex
	got    int
	synned bool
}

func (g *gateConn) Read(p []byte) (int, error) {
	g.mu.Lock()
	if g.got >= g.total && g.processed != nil {
		close(g.processed)
		g.processed = nil
	}
	g.mu.Unlock()
	n, err := g.Conn.Read(p)
	g.mu.Lock()
	g.got += n
	g.mu.Unlock()
	return n, err
}

func (g *gateConn) Write(p []byte) (int, error) {
	n, err := g.Conn.Write(p)
	g.mu.Lock()
	first := !g.synned && len(p) >= 12 && p[1] == 1 && p[3]&flagSYN != 0
	if first {
		g.synned = true
	}
	ch := g.processed
	g.mu.Unlock()
	if first && ch != nil {
		select {
		case <-ch:
		case <-time.After(5 * time.Second):
			g.mu.Lock()
			g.timedOut = true
			g.mu.Unlock()
		}
	}
	return n, err
}

// finBeforeOpenReturns opens a client stream whose raw peer acknowledges
// it, sends "hi" and closes it before Open has returned. It returns the
// client session, the stream, and the raw peer's end of the pipe.
func finBeforeOpenReturns(t *testing.T) (*Session, *Stream, net.Conn) {
	t.Helper()
	reply := frame(1, 2, 1, 0) // window update, ACK
	reply = append(reply, frame(0, 0, 1, 2)...)
	reply = append(reply, "hi"...)
	reply = append(reply, frame(1, flagFIN, 1, 0)...)
	return answeredBeforeOpenReturns(t, reply)
}

// answeredBeforeOpenReturns opens a client stream whose raw peer writes
// reply, in answer to its opening frame, before Open has returned.
func answeredBeforeOpenReturns(t *testing.T, reply []byte) (*Session, *Stream, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	gc := &gateConn{Conn: a, total: len(reply), processed: make(chan struct{})}
	go func() {
		var syn [12]byte
		if _, err := io.ReadFull(b, syn[:]); err != nil {
			return
		}
		if _, err := b.Write(reply); err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, b)
	}()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	cs, err := Client(gc, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { cs.Close() })
	c, err := cs.Open(context.Background())
	require.NoError(t, err)
	gc.mu.Lock()
	timedOut := gc.timedOut
	gc.mu.Unlock()
	require.False(t, timedOut, "the peer's answer did not arrive before Open returned")
	return cs, c.(*Stream), b
}

// TestVreview10FinBeforeOpenReturnsThenSessionEnds: the peer closes a
// stream this side opened before Open has returned (it answers the
// opening frame at once, as a server past MaxStreams does), then the
// connection ends: the stream's data is read, then io.EOF, the peer's
// clean close, not an error saying the session ended.
func TestVreview10FinBeforeOpenReturnsThenSessionEnds(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, st, b := finBeforeOpenReturns(t)
	got := make([]byte, 2)
	_, err := io.ReadFull(st, got)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(got))
	require.NoError(t, b.Close())
	select {
	case <-cs.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end")
	}
	_, err = st.Read(got)
	assert.Equal(t, io.EOF, err, "the peer closed the stream before the connection ended")
	require.NoError(t, st.Close())
	require.NoError(t, cs.Close())
}

// TestVreview10FinBeforeOpenReturnsThenClose: a stream the peer closed
// before Open returned, read to its end and closed by this side, is
// closed both ways: its account is released at once, not kept (1 KiB of
// the budget and the stream) until the session ends.
func TestVreview10FinBeforeOpenReturnsThenClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, st, _ := finBeforeOpenReturns(t)
	data, err := io.ReadAll(st)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(data))
	requireReleased(t, cs, st)
}

// requireReleased closes st, a stream of cs, and checks that nothing is
// held for it: no account, no entry among the closed streams, no budget;
// then closes cs.
func requireReleased(t *testing.T, cs *Session, st net.Conn) {
	t.Helper()
	require.NoError(t, st.Close())
	assert.Equal(t, int32(0), cs.g.acct.count.Load(), "the stream's account")
	cs.mu.Lock()
	assert.Empty(t, cs.closed, "the stream is dropped")
	cs.mu.Unlock()
	assert.Equal(t, int64(0), cs.budget.Used())
	require.NoError(t, cs.Close())
}

// TestVreview10ResetBeforeOpenReturns: a stream the peer resets before
// Open has returned (yamux does so at once when its accept backlog is
// full) reads the reset, and once closed holds no account nor budget.
func TestVreview10ResetBeforeOpenReturns(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, st, _ := answeredBeforeOpenReturns(t, frame(1, flagRST, 1, 0))
	_, err := st.Read(make([]byte, 1))
	require.Error(t, err)
	assert.NotEqual(t, io.EOF, err, "a reset is no clean close")
	requireReleased(t, cs, st)
}

// TestVreview10AbandonedOpenReleasesItsClose: an Open whose ctx ended
// while it waited for the backlog returns, and the stream opened late is
// closed through the session: a close the peer sent for it is not kept.
func TestVreview10AbandonedOpenReleasesItsClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		var h [12]byte
		for {
			if _, err := io.ReadFull(b, h[:]); err != nil {
				return
			}
			if h[1] == 0 {
				if _, err := io.CopyN(io.Discard, b, int64(binary.BigEndian.Uint32(h[8:]))); err != nil {
					return
				}
			}
			if id := binary.BigEndian.Uint32(h[4:]); binary.BigEndian.Uint16(h[2:])&flagSYN != 0 && id == 3 {
				// The late stream: acknowledged and closed at once, then a
				// byte on stream 1 tells the test that both arrived.
				reply := append(frame(1, 2, 3, 0), frame(1, flagFIN, 3, 0)...)
				reply = append(reply, frame(0, 0, 1, 1)...)
				if _, err := b.Write(append(reply, 'x')); err != nil {
					return
				}
			}
		}
	}()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	cfg.AcceptBacklog = 1
	cs, err := Client(a, cfg)
	require.NoError(t, err)
	defer cs.Close()
	st1, err := cs.Open(context.Background()) // never acknowledged yet: the backlog is full
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = cs.Open(ctx) // waits for the backlog, gives up at once
	require.ErrorIs(t, err, context.Canceled)
	_, err = b.Write(frame(1, 2, 1, 0)) // stream 1 acknowledged: the abandoned open goes on
	require.NoError(t, err)
	_, err = io.ReadFull(st1, make([]byte, 1))
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		cs.g.acct.mu.Lock()
		defer cs.g.acct.mu.Unlock()
		return len(cs.g.acct.early) == 0 && len(cs.g.acct.streams) == 1
	}, 2*time.Second, time.Millisecond, "the abandoned stream's close is released, stream 1 alone is tracked")
	require.NoError(t, cs.Close())
}
