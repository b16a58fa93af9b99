package faultnet_test

import (
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25ConnsAndCloseAll checks Conns ("how many connections wrapped
// by f are open"), CloseAll's count and its end of stream at the remote
// side, and Heal's "Connections closed by CloseAll ... stay closed".
func TestVaudit25ConnsAndCloseAll(t *testing.T) {
	f := faultnet.New()
	a1, b1 := tcpPair(t)
	a2, b2 := tcpPair(t)
	a3, _ := tcpPair(t)
	w1, w2, w3 := f.Conn(a1), f.Conn(a2), f.Conn(a3)
	assert.Equal(t, 3, f.Conns())
	require.NoError(t, w3.Close())
	assert.Equal(t, 2, f.Conns(), "a connection its user closed is not open")
	assert.Equal(t, 2, f.CloseAll())
	assert.Zero(t, f.Conns())
	for _, b := range []net.Conn{b1, b2} {
		_, err := readWithin(b, slack)
		require.ErrorIs(t, err, io.EOF, "the remote side sees an end of stream")
	}
	f.Heal()
	_, err := w1.Write([]byte("x"))
	require.Error(t, err, "closed by CloseAll, closed after Heal")
	_, err = w2.Read(make([]byte, 1))
	require.Error(t, err)
	assert.Zero(t, f.CloseAll())
}

// TestVaudit25DropThenHeal checks Drop: writes report success and send
// nothing (Out), received bytes are discarded (In) for good, and the
// peer's end of stream is reported only after Heal.
func TestVaudit25DropThenHeal(t *testing.T) {
	f := faultnet.New()
	a, b := tcpPair(t)
	fa := f.Conn(a)
	f.Drop(faultnet.Both)
	n, err := fa.Write([]byte("lost"))
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	_, err = readWithin(b, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing was sent")
	write(t, b, []byte("gone"))
	require.NoError(t, b.Close())
	_, err = readWithin(fa, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "dropped bytes and the close are not reported")
	f.Heal()
	start := time.Now()
	_, err = readWithin(fa, slack)
	require.ErrorIs(t, err, io.EOF, "after Heal the close is reported, the dropped bytes are not")
	assert.Less(t, time.Since(start), slack)
}

// TestVaudit25DialerNil checks Dialer(nil): a zero net.Dialer, and the
// connection is wrapped (it counts in Conns and takes f's faults).
func TestVaudit25DialerNil(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() { c, _ := l.Accept(); accepted <- c }()
	f := faultnet.New()
	c, err := f.Dialer(nil)(t.Context(), "tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	peer := <-accepted
	require.NotNil(t, peer)
	defer peer.Close()
	assert.Equal(t, 1, f.Conns())
	f.Drop(faultnet.Out)
	write(t, c, []byte("x"))
	_, err = readWithin(peer, quiet)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
}
