package transport_test

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// ended waits (at most 5 s) for s to end and returns its Cause.
func ended(t *testing.T, s *transport.Session) error {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end within 5 s")
	}
	return s.Cause()
}

// TestStreamEOFOnlyWhenThePeerClosedIt: a stream's Read returns io.EOF
// for the peer's close of that stream, before and after the session's
// end; a stream the peer had not closed when the session ended reads and
// writes an error wrapping ErrSessionEnded and the session's cause, on
// each side: the peer closed the connection (io.EOF) on one, this side
// closed it on the other.
func TestStreamEOFOnlyWhenThePeerClosedIt(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	defer ss.Close()
	open := func() (net.Conn, net.Conn) {
		accepted := make(chan net.Conn, 1)
		go func() {
			st, _ := ss.Accept()
			accepted <- st
		}()
		st, err := cs.Open(t.Context())
		require.NoError(t, err)
		_, err = st.Write([]byte("x")) // the server learns of the stream
		require.NoError(t, err)
		peer := <-accepted
		require.NotNil(t, peer)
		_, err = io.ReadFull(peer, make([]byte, 1))
		require.NoError(t, err)
		return st, peer
	}
	closed, closedPeer := open()
	open2, open2Peer := open()
	require.NoError(t, closedPeer.Close()) // the server closes one stream
	_, err := closed.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the peer's close of the stream")
	assert.Nil(t, cs.Cause(), "healthy")

	require.NoError(t, ss.Close()) // then the whole session
	cause := ended(t, cs)
	require.ErrorIs(t, cause, io.EOF, "the client's cause: %v", cause)
	assert.Contains(t, cause.Error(), "the peer closed the connection")
	_, err = open2.Read(make([]byte, 1))
	require.ErrorIs(t, err, transport.ErrSessionEnded, "a stream the peer never closed: %v", err)
	require.ErrorIs(t, err, io.EOF)
	assert.NotEqual(t, io.EOF, err)
	_, err = open2.Write([]byte("y"))
	require.ErrorIs(t, err, transport.ErrSessionEnded, "%v", err)
	_, err = closed.Read(make([]byte, 1))
	assert.Equal(t, io.EOF, err, "the closed stream still reads its peer's close")

	require.ErrorIs(t, ss.Cause(), transport.ErrClosedHere)
	_, err = open2Peer.Read(make([]byte, 1))
	require.ErrorIs(t, err, transport.ErrSessionEnded, "%v", err)
	require.ErrorIs(t, err, transport.ErrClosedHere)
	require.NoError(t, cs.Close())
	require.ErrorIs(t, cs.Cause(), io.EOF, "the first cause stays")
}

// deafPeer returns this side of a pipe whose far end reads everything and
// answers nothing, or, with deaf, reads nothing at all.
func deafPeer(t *testing.T, deaf bool) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { b.Close() })
	if !deaf {
		go func() { _, _ = io.Copy(io.Discard, b) }()
	}
	return a
}

func quickConfig() transport.Config {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 200 * time.Millisecond
	cfg.KeepAliveInterval = 0
	return cfg
}

// TestSessionCauseWriteTimeout: a session whose peer reads nothing ends
// when a write times out, with ErrWriteTimeout as its cause, naming the
// connection's deadline error without wrapping it: a stream read that
// returns it is not a timeout of its own.
func TestSessionCauseWriteTimeout(t *testing.T) {
	cs, err := transport.Client(deafPeer(t, true), quickConfig())
	require.NoError(t, err)
	defer cs.Close()
	go func() { _, _ = cs.Open(t.Context()) }() // its opening frame is never read
	cause := ended(t, cs)
	require.ErrorIs(t, cause, transport.ErrWriteTimeout, "%v", cause)
	assert.Contains(t, cause.Error(), "timeout")
	assert.NotErrorIs(t, cause, os.ErrDeadlineExceeded)
	var te interface{ Timeout() bool }
	assert.False(t, errors.As(cause, &te) && te.Timeout(), "not a timeout of the reader's own")
}

// TestSessionCauseOpenTimeout: a session whose peer never acknowledges a
// stream ends after StreamOpenTimeout with ErrOpenTimeout as its cause,
// with or without a logger.
func TestSessionCauseOpenTimeout(t *testing.T) {
	for _, logged := range []bool{false, true} {
		cfg := quickConfig()
		cfg.StreamOpenTimeout = 150 * time.Millisecond
		if logged {
			cfg.Logger = slog.New(slog.DiscardHandler)
		}
		cs, err := transport.Client(deafPeer(t, false), cfg)
		require.NoError(t, err)
		st, err := cs.Open(t.Context())
		require.NoError(t, err, "Open does not wait for the acknowledgement")
		cause := ended(t, cs)
		require.ErrorIs(t, cause, transport.ErrOpenTimeout, "logged %v: %v", logged, cause)
		_, err = st.Read(make([]byte, 1))
		require.ErrorIs(t, err, transport.ErrOpenTimeout, "logged %v: %v", logged, err)
		cs.Close()
	}
}

// TestSessionCausePingTimeout: a session whose peer reads but never
// answers a keepalive ping ends with ErrPingTimeout as its cause.
func TestSessionCausePingTimeout(t *testing.T) {
	cfg := quickConfig()
	cfg.KeepAliveInterval = 100 * time.Millisecond
	cs, err := transport.Client(deafPeer(t, false), cfg)
	require.NoError(t, err)
	defer cs.Close()
	cause := ended(t, cs)
	require.ErrorIs(t, cause, transport.ErrPingTimeout, "%v", cause)
}
