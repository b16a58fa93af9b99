package transport_test

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func sessionPair(t *testing.T) (*transport.Session, *transport.Session) {
	t.Helper()
	a, b := net.Pipe()
	cfg := transport.DefaultConfig()
	cs, err := transport.Client(a, cfg)
	require.NoError(t, err)
	ss, err := transport.Server(b, cfg)
	require.NoError(t, err)
	return cs, ss
}

// TestSessionStreams: streams opened by either side carry data both ways
// in order, with the same StreamID on both sides; closing the session
// ends both and leaves no goroutine behind.
func TestSessionStreams(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	for _, dir := range []struct {
		name         string
		open, accept *transport.Session
	}{{"client opens", cs, ss}, {"server opens", ss, cs}} {
		t.Run(dir.name, func(t *testing.T) {
			accepted := make(chan net.Conn, 1)
			go func() {
				st, err := dir.accept.Accept()
				assert.NoError(t, err)
				accepted <- st
			}()
			st, err := dir.open.Open(t.Context())
			require.NoError(t, err)
			msg := make([]byte, 100<<10) // several frames, some batched, some direct
			for i := range msg {
				msg[i] = byte(i)
			}
			go func() { _, _ = st.Write(msg); _ = st.Close() }()
			peer := <-accepted
			require.NotNil(t, peer)
			assert.Equal(t, transport.StreamID(st), transport.StreamID(peer))
			assert.NotZero(t, transport.StreamID(st))
			got, err := io.ReadAll(peer)
			require.NoError(t, err)
			assert.Equal(t, msg, got)
			require.NoError(t, peer.Close())
		})
	}
	assert.Zero(t, transport.StreamID(&net.TCPConn{}))
	require.NoError(t, cs.Close())
	<-ss.Done()
	require.NoError(t, ss.Close())
}

// TestSessionPeerGone: when the peer's session closes, a blocked read
// ends and the session is done.
func TestSessionPeerGone(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	accepted := make(chan net.Conn, 1)
	go func() {
		st, _ := ss.Accept()
		accepted <- st
	}()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	_, err = st.Write([]byte("hi"))
	require.NoError(t, err)
	peer := <-accepted
	require.NotNil(t, peer)
	buf := make([]byte, 2)
	_, err = io.ReadFull(peer, buf)
	require.NoError(t, err)
	readErr := make(chan error, 1)
	go func() { _, err := peer.Read(buf); readErr <- err }()
	require.NoError(t, cs.Close())
	assert.Error(t, <-readErr)
	<-ss.Done()
	require.NoError(t, ss.Close())
}

func TestSealRefusesLaterOpens(t *testing.T) {
	cli, srv := sessionPair(t)
	defer srv.Close()
	defer cli.Close()
	st, err := cli.Open(context.Background())
	require.NoError(t, err, "an open before Seal works")
	st.Close()
	cli.Seal()
	_, err = cli.Open(context.Background())
	require.ErrorIs(t, err, yamux.ErrRemoteGoAway)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = cli.Open(ctx)
	require.ErrorIs(t, err, yamux.ErrRemoteGoAway, "with a context too")
	// The other side can still open streams: Seal is one-way.
	st2, err := srv.Open(context.Background())
	require.NoError(t, err)
	st2.Close()
}
