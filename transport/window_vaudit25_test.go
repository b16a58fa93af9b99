package transport_test

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25StreamWindow checks StreamWindow's "each side raises its
// receiving half to StreamWindow at once, in the frame that opens or
// accepts the stream": either side may write StreamWindow bytes to a
// peer that reads none, and not a byte more.
func TestVaudit25StreamWindow(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.StreamWindow = 512 << 10
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); accepted <- c }()
	a, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	b := <-accepted
	require.NotNil(t, b)
	cs, err := transport.Client(a, cfg)
	require.NoError(t, err)
	defer cs.Close()
	ss, err := transport.Server(b, cfg)
	require.NoError(t, err)
	defer ss.Close()

	streams := make(chan net.Conn, 1)
	go func() { st, _ := ss.Accept(); streams <- st }()
	opener, err := cs.Open(t.Context())
	require.NoError(t, err)
	acceptor := <-streams
	require.NotNil(t, acceptor)
	for _, w := range []struct {
		name string
		st   net.Conn
	}{{"opener", opener}, {"acceptor", acceptor}} {
		require.NoError(t, w.st.SetWriteDeadline(time.Now().Add(5*time.Second)))
		n, err := w.st.Write(make([]byte, cfg.StreamWindow))
		require.NoError(t, err, w.name)
		assert.Equal(t, int(cfg.StreamWindow), n)
		require.NoError(t, w.st.SetWriteDeadline(time.Now().Add(200*time.Millisecond)))
		_, err = w.st.Write([]byte{1})
		require.ErrorIs(t, err, os.ErrDeadlineExceeded, "%s: one byte past the window", w.name)
	}
}

// TestVaudit25DeadlineIsNetConns checks Stream's "a net.Conn": past a
// deadline, Read and Write return an error wrapping
// os.ErrDeadlineExceeded, as net.Conn's contract says (they returned
// yamux's own "i/o deadline reached"), a net.Error whose Timeout is true.
func TestVaudit25DeadlineIsNetConns(t *testing.T) {
	cs, ss := sessionPair(t)
	defer cs.Close()
	defer ss.Close()
	go func() { st, _ := ss.Accept(); _ = st }()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	require.NoError(t, st.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
	_, err = st.Read(make([]byte, 1))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	require.NoError(t, st.SetReadDeadline(time.Time{}))
	require.NoError(t, st.SetDeadline(time.Now().Add(-time.Second)))
	_, err = st.Write(make([]byte, 2<<20)) // past the 1 MiB window
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
