package transport

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// eofWithData returns, once last is set to the length of the peer's final
// write, the read that completes those bytes together with io.EOF, as a
// tls.Conn does for a record followed by close_notify. (The reader may
// take the final write in several reads: ending at the first one left the
// rest unread, and the peer's write failed, 3 of 100 runs under load.)
type eofWithData struct {
	net.Conn
	last atomic.Int64 // bytes of the final write still to read; 0: not begun
	done atomic.Bool
}

func (e *eofWithData) Read(p []byte) (int, error) {
	if e.done.Load() {
		return 0, io.EOF
	}
	n, err := e.Conn.Read(p)
	if left := e.last.Load(); n > 0 && left > 0 {
		if left -= int64(n); left > 0 {
			e.last.Store(left)
			return n, err
		}
		e.done.Store(true)
		return n, io.EOF
	}
	return n, err
}

// TestVreview10DataWithTheConnectionsEnd: the connection's last read
// returns the peer's final frames (data, then its close of the stream)
// together with io.EOF. A reader of the stream reads that data, then
// io.EOF: the session's end, handled while those frames are still on
// their way to the stream, must not end the reader first.
func TestVreview10DataWithTheConnectionsEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	a, b := net.Pipe()
	defer b.Close()
	conn := &eofWithData{Conn: a}
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	cs, err := Client(conn, cfg)
	require.NoError(t, err)
	defer cs.Close()
	synRead := make(chan error, 1)
	go func() {
		_, err := io.ReadFull(b, make([]byte, 12))
		synRead <- err
		_, _ = io.Copy(io.Discard, b)
	}()
	st, err := cs.Open(context.Background())
	require.NoError(t, err)
	require.NoError(t, <-synRead)
	_, err = b.Write(frame(1, 2, 1, 0)) // acknowledged
	require.NoError(t, err)

	type result struct {
		data []byte
		err  error
	}
	read := make(chan result, 1)
	readerDone := make(chan struct{})
	go func() {
		data, err := io.ReadAll(st)
		read <- result{data, err}
		close(readerDone)
	}()
	// The session's end waits (a bounded while) for the reader, so that
	// the race between the end and the last frames always goes the same
	// way.
	cs.OnEnd(func() {
		select {
		case <-readerDone:
		case <-time.After(2 * time.Second):
		}
	})
	last := append(append(frame(0, 0, 1, 2), "hi"...), frame(1, flagFIN, 1, 0)...)
	conn.last.Store(int64(len(last)))
	_, err = b.Write(last)
	require.NoError(t, err)
	select {
	case r := <-read:
		require.NoError(t, r.err)
		assert.Equal(t, "hi", string(r.data), "the data that came with the connection's end")
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not return")
	}
	require.NoError(t, st.Close())
}
