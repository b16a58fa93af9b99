package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// childArgs, when set in the environment, makes the test binary run the
// server's main with these arguments (one per line) instead of the tests.
const childArgs = "ARITH_SERVER_TEST_ARGS"

func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv(childArgs); ok {
		os.Args = append([]string{os.Args[0]}, strings.Split(args, "\n")...)
		main()
		os.Exit(0)
	}
	// A child built with -race would sleep 1 s on exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}

// TestDocsFlags checks the defaults the package doc and the flags' help
// state: 127.0.0.1:7000, a 10 s grace period, a 192 MiB memory limit.
func TestDocsFlags(t *testing.T) {
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	o := defineFlags(fs)
	require.NoError(t, fs.Parse(nil))
	assert.Equal(t, "127.0.0.1:7000", o.addr)
	assert.Equal(t, 10*time.Second, o.grace)
	assert.Equal(t, int64(192<<20), o.memLimit, "192 MiB")
}

// TestDocsMemoryLimit checks "it runs with a Go memory limit (GOMEMLIMIT,
// or -memlimit: 192 MiB by default): ... the server's memory budget for
// all connections defaults to a quarter of it", and that -memlimit 0 sets
// none and GOMEMLIMIT wins over -memlimit.
func TestDocsMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	t.Setenv("GOMEMLIMIT", "")

	debug.SetMemoryLimit(math.MaxInt64)
	setMemoryLimit(192 << 20)
	assert.Equal(t, int64(192<<20), debug.SetMemoryLimit(-1))
	assert.Equal(t, int64(48<<20), server.DefaultMemoryBudget(), "a quarter of the limit")
	total, perIP := server.DefaultConnLimits()
	assert.Equal(t, 3072, total, "one connection per 64 KiB of the limit")
	assert.Equal(t, 768, perIP)

	debug.SetMemoryLimit(math.MaxInt64)
	setMemoryLimit(0)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "0: none")

	t.Setenv("GOMEMLIMIT", "1GiB")
	setMemoryLimit(192 << 20)
	assert.Equal(t, int64(math.MaxInt64), debug.SetMemoryLimit(-1), "GOMEMLIMIT is the runtime's, not -memlimit's")
}

// child is the server's main running in a child process.
type child struct {
	cmd    *exec.Cmd
	addr   string
	stderr *bufio.Scanner
	exited chan error
}

// startChild runs the server with args and -addr 127.0.0.1:0, and returns
// once it printed its address.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(append([]string{"-addr", "127.0.0.1:0"}, args...), "\n"))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	// Not StderrPipe, which Wait closes, maybe before the last lines are
	// read.
	stderr, w, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { stderr.Close() })
	cmd.Stderr = w
	err = cmd.Start()
	w.Close()
	require.NoError(t, err)
	c := &child{cmd: cmd, stderr: bufio.NewScanner(stderr), exited: make(chan error, 1)}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	go func() {
		_, _ = io.Copy(io.Discard, stdout)
		c.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-c.exited
	})
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "the first line on stdout is %q", line)
	c.addr = addr
	return c
}

// waitLog reads the child's stderr until a line contains want, and
// returns the lines read.
func (c *child) waitLog(t *testing.T, want string) []string {
	t.Helper()
	var lines []string
	for c.stderr.Scan() {
		lines = append(lines, c.stderr.Text())
		if strings.Contains(c.stderr.Text(), want) {
			return lines
		}
	}
	t.Fatalf("the server's stderr ended without %q: %q", want, lines)
	return nil
}

// exitCode waits for the child to exit, at most a minute.
func (c *child) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case err := <-c.exited:
		c.exited <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		require.NoError(t, err)
		return 0
	case <-time.After(time.Minute):
		t.Fatal("the server did not exit within a minute")
		return -1
	}
}

// openChat opens an Echo.Chat stream on the server and checks that its
// handler runs.
func openChat(t *testing.T, addr string) (*client.Client, *client.BidiStream[string, string]) {
	t.Helper()
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	st, err := client.OpenBidi[string, string](t.Context(), c, "Echo.Chat")
	require.NoError(t, err)
	m := "hi"
	require.NoError(t, st.Send(&m))
	r, err := st.Recv()
	require.NoError(t, err)
	require.Equal(t, "hi", *r)
	return c, st
}

// TestDocsSignals checks "SIGINT or SIGTERM shuts it down gracefully:
// running calls finish (for at most -grace), then it exits 0 when they
// all finished, 1 when -grace cut them off".
func TestDocsSignals(t *testing.T) {
	t.Run("SIGINT, the call finishes", func(t *testing.T) {
		srv := startChild(t)
		_, st := openChat(t, srv.addr)
		require.NoError(t, srv.cmd.Process.Signal(os.Interrupt))
		srv.waitLog(t, "shutting down")
		m := "still here"
		require.NoError(t, st.Send(&m), "the running call goes on")
		r, err := st.Recv()
		require.NoError(t, err)
		assert.Equal(t, m, *r)
		require.NoError(t, st.CloseSend())
		_, err = st.Recv()
		require.ErrorIs(t, err, io.EOF)
		srv.waitLog(t, "stopped")
		assert.Equal(t, 0, srv.exitCode(t))
	})
	t.Run("SIGTERM, -grace cuts the call off", func(t *testing.T) {
		srv := startChild(t, "-grace", "300ms")
		_, st := openChat(t, srv.addr)
		defer st.Close()
		require.NoError(t, srv.cmd.Process.Signal(syscall.SIGTERM))
		lines := srv.waitLog(t, "shutdown: ")
		assert.Contains(t, lines[len(lines)-1], context.DeadlineExceeded.Error())
		assert.Equal(t, 1, srv.exitCode(t))
	})
}
