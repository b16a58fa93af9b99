package transport_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stuckPeer returns a client-side connection whose peer accepts it and
// never reads, with socket buffers small enough that a few hundred KiB
// fill them, and the peer's end (closed at t's cleanup).
func stuckPeer(t *testing.T) net.Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	p, err := l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	require.NoError(t, p.(*net.TCPConn).SetReadBuffer(4<<10))
	require.NoError(t, c.(*net.TCPConn).SetWriteBuffer(4<<10))
	return c
}

// fillWindow opens a stream on s and writes a window's worth and more to
// it in a goroutine; the channel gets the write's error.
func fillWindow(t *testing.T, s *transport.Session) <-chan error {
	t.Helper()
	st, err := s.Open(t.Context())
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		_, err := st.Write(bytes.Repeat([]byte{1}, 4<<20))
		done <- err
	}()
	return done
}

// TestSessionPeerStopsReading: yamux's send loop now writes to the
// connection itself, so a peer that stops reading blocks it; the write
// deadline still ends the session within WriteTimeout (between 7/8 of it
// and all of it after the blocked write began), and Close from another
// goroutine cuts the blocked write at once, whatever the timeout.
func TestSessionPeerStopsReading(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		cfg := transport.DefaultConfig()
		cfg.KeepAliveInterval = 0
		cfg.WriteTimeout = 200 * time.Millisecond
		s, err := transport.Client(stuckPeer(t), cfg)
		require.NoError(t, err)
		defer s.Close()
		t0 := time.Now()
		wrote := fillWindow(t, s)
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the session outlived a peer that stopped reading")
		}
		took := time.Since(t0)
		t.Logf("the session ended %v after the writes began", took)
		assert.GreaterOrEqual(t, took, cfg.WriteTimeout-cfg.WriteTimeout/8)
		assert.Error(t, <-wrote)
	})
	t.Run("deadline, accepting side", func(t *testing.T) {
		// A quiet server session writes in yamux's send loop too
		// (coalesce.go): the write deadline bounds it as it bounds the
		// batching goroutine's writes.
		cfg := transport.DefaultConfig()
		cfg.KeepAliveInterval = 0
		cfg.WriteTimeout = 200 * time.Millisecond
		s, err := transport.Server(stuckPeer(t), cfg)
		require.NoError(t, err)
		defer s.Close()
		wrote := fillWindow(t, s)
		select {
		case <-s.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("the session outlived a peer that stopped reading")
		}
		assert.Error(t, <-wrote)
	})
	t.Run("Close", func(t *testing.T) {
		cfg := transport.DefaultConfig()
		cfg.KeepAliveInterval = 0
		cfg.WriteTimeout = time.Minute
		s, err := transport.Client(stuckPeer(t), cfg)
		require.NoError(t, err)
		wrote := fillWindow(t, s)
		select {
		case err := <-wrote:
			t.Fatalf("the write did not block: %v", err)
		case <-time.After(100 * time.Millisecond): // not a wait for an event: 4 MiB cannot pass 8 KiB of buffers
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			assert.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("Close waited for the blocked write")
		}
		assert.Error(t, <-wrote)
	})
}
