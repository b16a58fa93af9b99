package transport_test

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit18AfterTheEnd checks what the Session and Stream docs promise
// once a session has ended: OnEnd calls fn at once; a stream's Read and
// Write fail with an error wrapping ErrSessionEnded and naming why; its
// read deadline "stays in the past" even when set to the future; Open and
// AcceptContext fail instead of waiting; Cause is ErrClosedHere on the
// side that closed.
func TestVaudit18AfterTheEnd(t *testing.T) {
	cs, ss := sessionPair(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		st, err := ss.Accept()
		assert.NoError(t, err)
		accepted <- st
	}()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	_, err = st.Write([]byte("x"))
	require.NoError(t, err)
	peer := <-accepted
	require.NotNil(t, peer)
	defer peer.Close()

	require.NoError(t, cs.Close())
	<-cs.Done()
	<-ss.Done()
	assert.ErrorIs(t, cs.Cause(), transport.ErrClosedHere)

	ended := make(chan struct{})
	cs.OnEnd(func() { close(ended) })
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("OnEnd on an ended session did not call fn at once")
	}

	_, err = st.Write([]byte("y"))
	require.ErrorIs(t, err, transport.ErrSessionEnded)
	_, err = st.Read(make([]byte, 1))
	require.ErrorIs(t, err, transport.ErrSessionEnded)

	require.NoError(t, peer.SetReadDeadline(time.Now().Add(time.Hour)))
	buf := make([]byte, 8)
	n, err := peer.Read(buf) // the "x" that arrived first
	require.NoError(t, err)
	assert.Equal(t, "x", string(buf[:n]))
	done := make(chan error, 1)
	go func() {
		_, err := peer.Read(buf)
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.True(t, errors.Is(err, transport.ErrSessionEnded) || errors.Is(err, os.ErrDeadlineExceeded), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("a read with a future deadline on an ended session waited")
	}

	_, err = cs.Open(t.Context())
	assert.Error(t, err, "Open on a closed session")
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	_, err = ss.AcceptContext(ctx)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "AcceptContext on an ended session returns at once")
}
