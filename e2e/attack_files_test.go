//go:build linux

package e2e_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// holdConns opens n connections to addr, spread over from's addresses,
// writes one byte on each (a session's first byte, then nothing) and
// returns them; they are closed at t's cleanup. A connection the server
// refuses or closes counts too: what matters is what the server had to
// accept.
func holdConns(t *testing.T, addr string, from []string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from[i%len(from)])}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			continue // a full backlog: the kernel refuses for the server
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write([]byte{0})
		conns = append(conns, c)
	}
	return conns
}

// attackerIPs are n loopback addresses other than 127.0.0.1, where the
// probes come from.
func attackerIPs(n int) []string {
	ips := make([]string, n)
	for i := range ips {
		ips[i] = fmt.Sprintf("127.0.0.%d", 2+i)
	}
	return ips
}

// openFDs counts the open files of process pid.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err)
	return len(ents)
}

// TestAttackOpenFileLimit: connections past the server's open-file limit.
//
// Under a limit it started with, the example server's default connection
// bound stays below it (server.DefaultConnLimits: 256 files give 192
// connections, 48 per IP), so 600 connections from ten addresses that
// send a byte and stall are shed by the bound's rules, and fresh clients
// are served throughout. Before, the bound was 3,072 (the example's 192
// MiB memory limit): Accept failed with "too many open files", and Serve
// returned, ending the server (log.Fatal).
//
// Under a limit lowered while it runs (prlimit to 128 files, past which
// the bound no longer protects), Accept fails, and Serve pauses and
// accepts again (it logs the error): the server stays up, and serves a
// fresh client once the connections are gone.
func TestAttackOpenFileLimit(t *testing.T) {
	needAttacks(t)
	bin := buildArithServer(t)
	t.Run("started under the limit", func(t *testing.T) {
		wrapper := filepath.Join(t.TempDir(), "arith-256-files")
		require.NoError(t, os.WriteFile(wrapper, []byte("#!/bin/sh\nulimit -n 256 || exit 1\nexec "+bin+" \"$@\"\n"), 0o755))
		s := siegeOn(t, startArith(t, wrapper))
		conns := holdConns(t, s.p.addr, attackerIPs(10), 600)
		t.Logf("%d attacking connections opened; the server holds %d files", len(conns), openFDs(t, s.pid))
		// Ten probes more with the connections held.
		s.mu.Lock()
		want := s.probes + 10
		s.mu.Unlock()
		require.Eventually(t, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.probes >= want
		}, 30*time.Second, 20*time.Millisecond)
		files := openFDs(t, s.pid)
		s.finish()
		assert.Less(t, files, 256, "files the server held")
	})
	t.Run("limit lowered while serving", func(t *testing.T) {
		p := startArith(t, bin)
		pid := p.cmd.Process.Pid
		lim := syscall.Rlimit{Cur: 128, Max: 128}
		_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE,
			uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
		require.Zero(t, errno, "prlimit")
		conns := holdConns(t, p.addr, attackerIPs(1), 200)
		t.Logf("%d attacking connections opened; the server holds %d files", len(conns), openFDs(t, pid))
		require.Eventually(t, func() bool {
			return openFDs(t, pid) >= 120
		}, 10*time.Second, 20*time.Millisecond, "the server runs out of files")
		for _, c := range conns {
			c.Close()
		}
		select {
		case err := <-p.exited:
			t.Fatalf("the server exited: %v; stderr: %s", err, p.stderr)
		default:
		}
		var took time.Duration
		var err error
		require.Eventually(t, func() bool {
			took, err = probeAdd(p.addr)
			return err == nil
		}, 10*time.Second, 100*time.Millisecond, "a fresh call once the connections closed: %v", err)
		t.Logf("fresh call after the attack: %v", took)
	})
}
