package transport_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from <linux/tcp.h>.
const tcpUserTimeout = 18

func getsockopt(t *testing.T, c net.Conn, level, opt int) int {
	t.Helper()
	raw, err := c.(*net.TCPConn).SyscallConn()
	require.NoError(t, err)
	var v int
	var gerr error
	require.NoError(t, raw.Control(func(fd uintptr) { v, gerr = syscall.GetsockoptInt(int(fd), level, opt) }))
	require.NoError(t, gerr)
	return v
}

func TestSetUserTimeout(t *testing.T) {
	defer goleak.VerifyNone(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept()
	require.NoError(t, err)
	defer s.Close()

	require.NoError(t, transport.SetUserTimeout(c, 2500*time.Millisecond))
	assert.Equal(t, 2500, getsockopt(t, c, syscall.IPPROTO_TCP, tcpUserTimeout))
	assert.Equal(t, 1, getsockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))
	assert.Equal(t, 1, getsockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), "d/3 rounds up to 1 s")
	assert.Equal(t, 1, getsockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL))
	assert.Equal(t, 3, getsockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT))

	// Through a wrapper that exposes NetConn, with sub-millisecond
	// rounding up.
	f := faultnet.New()
	require.NoError(t, transport.SetUserTimeout(f.Conn(s), 12*time.Second+time.Microsecond))
	assert.Equal(t, 12001, getsockopt(t, s, syscall.IPPROTO_TCP, tcpUserTimeout))
	assert.Equal(t, 5, getsockopt(t, s, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE), "just over 4 s rounds up")

	require.NoError(t, transport.SetUserTimeout(c, 0))
	assert.Equal(t, 0, getsockopt(t, c, syscall.IPPROTO_TCP, tcpUserTimeout), "0 restores the default")

	require.ErrorContains(t, transport.SetUserTimeout(c, -time.Second), "ferry: ")
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	require.NoError(t, transport.SetUserTimeout(a, time.Second), "not TCP: nothing to do")
}
