//go:build unix

// Package nvimtest starts Neovim for tests that call a MessagePack-RPC
// server that is not Ferry's. A test skips when nvim is not installed,
// unless FERRY_REQUIRE_NVIM=1 (set by CI), which makes it fail.
package nvimtest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nvim is a headless Neovim: Conn is a connection to its standard input
// and output (its --embed channel), and Socket the path of the unix socket
// it listens on, ready for more connections.
type Nvim struct {
	Conn   net.Conn
	Socket string
}

// Start starts nvim --embed --headless, listening on a unix socket in a
// temporary directory, and stops it when t ends. The caller must make one
// call over Conn before dialing Socket: nvim answers only once its startup,
// which opens the socket, is done.
func Start(t testing.TB) *Nvim {
	t.Helper()
	path, err := exec.LookPath("nvim")
	if err != nil {
		if os.Getenv("FERRY_REQUIRE_NVIM") == "1" {
			t.Fatalf("FERRY_REQUIRE_NVIM=1 but nvim is not installed: %v", err)
		}
		t.Skip("nvim is not installed (Debian: apt-get install neovim); FERRY_REQUIRE_NVIM=1 makes this a failure")
	}
	syscall.ForkLock.RLock() // no exec between making the fds and marking them
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		t.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "nvim-rpc"), os.NewFile(uintptr(fds[1]), "nvim-stdio")
	sock := filepath.Join(t.TempDir(), "nvim.sock")
	cmd := exec.Command(path, "--embed", "--headless", "--clean", "-n", "--listen", sock)
	cmd.Stdin, cmd.Stdout = theirs, theirs
	cmd.Env = append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "XDG_DATA_HOME="+t.TempDir())
	if err := cmd.Start(); err != nil {
		ours.Close()
		theirs.Close()
		t.Fatal(err)
	}
	theirs.Close()
	conn, err := net.FileConn(ours)
	ours.Close()
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		conn.Close()
	})
	return &Nvim{Conn: conn, Socket: sock}
}
