//go:build linux

package server

import (
	"context"
	"net"
	"runtime"
	"syscall"
)

// ListenReusePort listens on addr like net.Listen, with SO_REUSEPORT set,
// so that another process (or listener) may listen on the same address at
// the same time; the kernel then spreads new connections across the
// listeners. network is "tcp", "tcp4" or "tcp6". It exists on Linux only;
// elsewhere it returns an error.
//
// It is the way to restart one server without refusing a connection:
//
//  1. the new process calls ListenReusePort with the old one's address,
//     starts Serve, and tells the old one that it is ready (a signal, a
//     line on a pipe);
//  2. the old one calls Shutdown: its listener closes, so every new
//     connection goes to the new process, and it drains the connections
//     it has (go-away, running calls finish, calls it never ran are
//     refused as not executed; PROTOCOL.md, "Going away"). A cluster
//     client (package cluster) redials at once and lands on the new
//     process.
//
// One race is the kernel's: connections that had completed their
// handshake but that the old listener had not yet accepted when it closed
// are reset (unless the sysctl net.ipv4.tcp_migrate_req is 1, Linux 5.14
// and later, which moves them to the new listener). A cluster client
// checks every new connection's health before it sends calls there, so
// such a reset costs it a redial, never a call; a plain client that sends
// a call on a brand-new connection may see that call fail with its
// outcome unknown. examples/restart shows the whole sequence.
func ListenReusePort(ctx context.Context, network, addr string) (net.Listener, error) {
	if err := checkReuseNetwork(network); err != nil {
		return nil, err
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, soReusePort(), 1)
		}); err != nil {
			return err
		}
		if serr != nil {
			return &net.OpError{Op: "setsockopt SO_REUSEPORT", Err: serr}
		}
		return nil
	}}
	return lc.Listen(ctx, network, addr)
}

// soReusePort is SO_REUSEPORT, which package syscall does not name on
// every architecture: 15, but 0x200 on MIPS.
func soReusePort() int {
	switch runtime.GOARCH {
	case "mips", "mipsle", "mips64", "mips64le":
		return 0x200
	}
	return 0xf
}
