package transport_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25EndedSession checks the docs of a session that ended: Cause
// is nil while healthy and ErrClosedHere on the side that closed; OnEnd
// runs at once once ended; a stream's Read returns the data that had
// arrived, then an error wrapping ErrSessionEnded; Write fails with one
// too; a read deadline set afterwards "stays in the past" (Read returns
// at once); Ping and Open fail.
func TestVaudit25EndedSession(t *testing.T) {
	cs, ss := sessionPair(t)
	require.NoError(t, cs.Cause())
	accepted := make(chan net.Conn, 1)
	go func() {
		st, err := ss.Accept()
		assert.NoError(t, err)
		accepted <- st
	}()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	_, err = st.Write([]byte("hi"))
	require.NoError(t, err)
	peer := <-accepted
	require.NotNil(t, peer)
	require.Eventually(t, func() bool { return peer.(*transport.Stream).Buffered() == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, 1, cs.NumStreams())

	require.NoError(t, cs.Close())
	<-cs.Done()
	<-ss.Done()
	assert.ErrorIs(t, cs.Cause(), transport.ErrClosedHere)
	require.Error(t, ss.Cause())

	ended := make(chan struct{})
	ss.OnEnd(func() { close(ended) })
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("OnEnd on an ended session did not run")
	}

	buf := make([]byte, 8)
	n, err := peer.Read(buf)
	require.NoError(t, err, "the data that had arrived comes first")
	assert.Equal(t, "hi", string(buf[:n]))
	_, err = peer.Read(buf)
	require.ErrorIs(t, err, transport.ErrSessionEnded)
	_, err = peer.Write([]byte("x"))
	require.ErrorIs(t, err, transport.ErrSessionEnded)

	require.NoError(t, peer.SetReadDeadline(time.Now().Add(time.Hour)))
	done := make(chan error, 1)
	go func() { _, err := peer.Read(buf); done <- err }()
	select {
	case err := <-done:
		require.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Read after the session ended blocked")
	}
	require.Error(t, ss.Ping())
	_, err = cs.Open(t.Context())
	require.Error(t, err)
	require.NoError(t, ss.Close())
}

// TestVaudit25AcceptContext checks "With a ctx already ended it returns a
// stream waiting to be accepted, or ctx's error": with none waiting, it
// is ctx's error.
func TestVaudit25AcceptContext(t *testing.T) {
	cs, ss := sessionPair(t)
	defer cs.Close()
	defer ss.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := ss.AcceptContext(ctx)
	require.ErrorIs(t, err, context.Canceled)
	ctx2, cancel2 := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel2()
	_, err = ss.AcceptContext(ctx2)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

// TestVaudit25ConfigDerived checks ConnBudget and DeadPeerTimeout against
// their docs.
func TestVaudit25ConfigDerived(t *testing.T) {
	cfg := transport.DefaultConfig()
	assert.Equal(t, int64(64<<20), cfg.ConnBudget())
	assert.Equal(t, 25*time.Second, cfg.DeadPeerTimeout())
	cfg.KeepAliveInterval = 0
	assert.Equal(t, 10*time.Second, cfg.DeadPeerTimeout(), "WriteTimeout alone without keepalives")
	cfg.MaxMessageSize = 64 << 20
	cfg.MemoryBudget = 1 << 20
	require.NoError(t, cfg.Validate())
	assert.Equal(t, int64(2*(64<<20)+(1<<20)), cfg.ConnBudget())
	cfg.KeepAliveInterval = -1
	require.Error(t, cfg.Validate())
}

// TestVaudit25StreamHalfClose checks Stream's "Close is a half-close: the
// peer may still send until it closes too".
func TestVaudit25StreamHalfClose(t *testing.T) {
	cs, ss := sessionPair(t)
	defer cs.Close()
	defer ss.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		st, err := ss.Accept()
		assert.NoError(t, err)
		accepted <- st
	}()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	require.NoError(t, st.Close())
	peer := <-accepted
	require.NotNil(t, peer)
	got, err := io.ReadAll(peer)
	require.NoError(t, err)
	assert.Empty(t, got)
	go func() { _, _ = peer.Write([]byte("after")); _ = peer.Close() }()
	got, err = io.ReadAll(st)
	require.NoError(t, err)
	assert.Equal(t, "after", string(got))
	assert.False(t, errors.Is(err, transport.ErrSessionEnded))
}

// TestVaudit25OpenWaitsForBacklog checks Open's "While AcceptBacklog
// streams this side opened are still unacknowledged, Open waits for one
// of them to be; ctx bounds that wait".
func TestVaudit25OpenWaitsForBacklog(t *testing.T) {
	cfg := quickConfig()
	cfg.AcceptBacklog = 2
	cfg.StreamOpenTimeout = time.Minute
	cs, err := transport.Client(deafPeer(t, false), cfg)
	require.NoError(t, err)
	defer cs.Close()
	for range 2 {
		_, err := cs.Open(t.Context())
		require.NoError(t, err, "within the backlog, Open does not wait")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = cs.Open(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Nil(t, cs.Cause(), "the session lives on")
}
