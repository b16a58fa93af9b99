package transport_test

// Promises of the transport package's Session and Stream docs that no
// other test checks: AcceptContext with an ended ctx, half-close, reads
// after the session ended, GoAway and deadlines after the end.

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditAcceptContext checks AcceptContext: "gives up when ctx ends.
// With a ctx already ended it returns a stream waiting to be accepted, or
// ctx's error, at random when both are ready."
func TestAuditAcceptContext(t *testing.T) {
	cs, ss := sessionPair(t)
	defer cs.Close()
	defer ss.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := ss.AcceptContext(ctx)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "gives up when ctx ends")

	ended, cancel := context.WithCancel(t.Context())
	cancel()
	var streams, ctxErrs int
	for i := 0; i < 64 && (streams == 0 || ctxErrs == 0); i++ {
		st, err := cs.Open(t.Context())
		require.NoError(t, err)
		_, err = st.Write([]byte{1}) // the peer has it once the byte arrives
		require.NoError(t, err)
		require.Eventually(t, func() bool { return ss.NumStreams() >= 1 }, 5*time.Second, time.Millisecond)
		for range 1000 {
			got, err := ss.AcceptContext(ended)
			if err != nil {
				assert.ErrorIs(t, err, context.Canceled)
				ctxErrs++
				continue
			}
			streams++
			got.Close()
			break
		}
		st.Close()
	}
	assert.NotZero(t, streams, "a waiting stream is returned")
	assert.NotZero(t, ctxErrs, "or ctx's error")
}

// TestAuditHalfClose checks Stream: "Close is a half-close: the peer may
// still send until it closes too"; Read "returns io.EOF once the peer
// closed the stream or the session ended, after the data that had
// arrived".
func TestAuditHalfClose(t *testing.T) {
	cs, ss := sessionPair(t)
	defer cs.Close()
	defer ss.Close()
	a, err := cs.Open(t.Context())
	require.NoError(t, err)
	_, err = a.Write([]byte("ping"))
	require.NoError(t, err)
	b, err := ss.Accept()
	require.NoError(t, err)
	require.NoError(t, a.Close())

	buf := make([]byte, 4)
	_, err = io.ReadFull(b, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))
	_, err = b.Read(buf)
	assert.ErrorIs(t, err, io.EOF, "the peer closed")

	_, err = b.Write([]byte("pong"))
	require.NoError(t, err, "the peer may still send")
	_, err = io.ReadFull(a, buf)
	require.NoError(t, err)
	assert.Equal(t, "pong", string(buf))

	// Data that arrived before the session ended is read, then io.EOF.
	c, err := cs.Open(t.Context())
	require.NoError(t, err)
	d, err := ss.Accept()
	require.NoError(t, err)
	_, err = d.Write([]byte("last"))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.(*transport.Stream).Buffered() == 4 }, 5*time.Second, time.Millisecond)
	require.NoError(t, ss.Close())
	<-cs.Done()
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "last", string(buf))
	_, err = c.Read(buf)
	assert.ErrorIs(t, err, io.EOF)
	require.NoError(t, c.SetReadDeadline(time.Now().Add(time.Hour)))
	_, err = c.Read(buf)
	assert.Error(t, err, "the read deadline stays in the past once the session ended")
}

// TestAuditGoAway checks GoAway: "tells the peer to open no more
// streams", and Done: "closed when the session ends".
func TestAuditGoAway(t *testing.T) {
	cs, ss := sessionPair(t)
	defer cs.Close()
	require.NoError(t, ss.GoAway())
	require.Eventually(t, func() bool {
		st, err := cs.Open(t.Context())
		if err == nil {
			st.Close()
		}
		return err != nil
	}, 5*time.Second, time.Millisecond, "the peer opens no more streams")
	require.NoError(t, ss.Close())
	select {
	case <-ss.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
}
