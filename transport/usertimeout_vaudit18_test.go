//go:build linux

package transport_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit18LongUserTimeout checks SetUserTimeout's "turns on kernel
// keepalive probes, starting after d/3 idle ... and repeated every d/3"
// for a long d, such as the DeadPeerTimeout of a KeepAliveInterval of
// days: Linux takes at most 32,767 s for either, and past 27.3 hours
// SetUserTimeout failed with "setsockopt: invalid argument" (after
// setting the user timeout) and left keepalive unset. The probes are
// capped at Linux's limit instead.
func TestVaudit18LongUserTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept()
	require.NoError(t, err)
	defer s.Close()

	require.NoError(t, transport.SetUserTimeout(c, 48*time.Hour))
	assert.Equal(t, int((48 * time.Hour).Milliseconds()), getsockopt(t, c, syscall.IPPROTO_TCP, tcpUserTimeout))
	assert.Equal(t, 1, getsockopt(t, c, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))
	assert.Equal(t, 32767, getsockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE))
	assert.Equal(t, 32767, getsockopt(t, c, syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL))

	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 7 * 24 * time.Hour
	require.NoError(t, cfg.Validate())
	require.NoError(t, transport.SetUserTimeout(s, cfg.DeadPeerTimeout()), "a valid config's DeadPeerTimeout")
	assert.Equal(t, 1, getsockopt(t, s, syscall.SOL_SOCKET, syscall.SO_KEEPALIVE))
}
