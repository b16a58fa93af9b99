//go:build linux

package transport

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"syscall"
	"time"
)

// tcpUserTimeout is the socket option TCP_USER_TIMEOUT (level IPPROTO_TCP)
// from <linux/tcp.h>, value 18 since Linux 2.6.37. Package syscall does not
// define it, and golang.org/x/sys is not a dependency of Ferry.
const tcpUserTimeout = 18

// maxKeepAlive is the longest keepalive idle time and interval Linux
// takes (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL: 32,767 s).
const maxKeepAlive = 32767 * time.Second

// SetUserTimeout makes the kernel break c when data it sent stays
// unacknowledged for d (TCP_USER_TIMEOUT, rounded up to a millisecond;
// at most 2^31-1 ms), and turns on kernel keepalive probes, starting
// after d/3 idle and repeated every d/3 (at least 1 s, and at most
// 32,767 s, Linux's limit), so that a peer that vanished is noticed on
// an idle connection too. Kernel keepalive alone misses a dead peer while
// unacknowledged data is in flight; the user timeout catches that case.
// d = 0 restores the kernel's default user timeout and leaves keepalive
// as it is.
//
// c may be a *net.TCPConn or wrap one (any conn with a NetConn method,
// such as *tls.Conn); for other connections SetUserTimeout does nothing.
// On systems other than Linux it does nothing.
func SetUserTimeout(c net.Conn, d time.Duration) error {
	if d < 0 {
		return errors.New("ferry: negative TCP user timeout")
	}
	tc := tcpConnOf(c)
	if tc == nil {
		return nil
	}
	ms := min((d+time.Millisecond-1)/time.Millisecond, math.MaxInt32)
	raw, err := tc.SyscallConn()
	if err != nil {
		return fmt.Errorf("ferry: TCP user timeout: %w", err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(ms))
	}); err != nil {
		return fmt.Errorf("ferry: TCP user timeout: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("ferry: TCP user timeout: %w", os.NewSyscallError("setsockopt", serr))
	}
	if d == 0 {
		return nil
	}
	probe := min(max(d/3, time.Second), maxKeepAlive)
	if err := tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: probe, Interval: probe, Count: 3}); err != nil {
		return fmt.Errorf("ferry: TCP keepalive: %w", err)
	}
	return nil
}

// tcpConnOf finds the TCP connection under c, or returns nil.
func tcpConnOf(c net.Conn) *net.TCPConn {
	for range 16 { // wrappers nest a few deep at most
		switch x := c.(type) {
		case *net.TCPConn:
			return x
		case interface{ NetConn() net.Conn }:
			c = x.NetConn()
		default:
			return nil
		}
	}
	return nil
}
