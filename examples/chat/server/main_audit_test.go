package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/chat/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// childArgs, when set in the environment, makes the test binary run the
// command's main with these arguments (one per line) instead of the tests.
const childArgs = "CHAT_SERVER_TEST_ARGS"

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

// command returns the command's main run in a child process with args.
func command(t *testing.T, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgs+"="+strings.Join(args, "\n"))
	return cmd
}

// TestAuditFlags checks the doc's "go run ./examples/chat/server -addr
// 127.0.0.1:7001": that address is the default, the one the README's
// "go run ./examples/chat/server" and the client's default use.
func TestAuditFlags(t *testing.T) {
	out, err := command(t, "-h").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), `listen address (default "127.0.0.1:7001")`)
}

// TestAuditServesTheRoom runs the command: it prints "listening on ADDR",
// a member who joins there sees its own line come back, and SIGTERM stops
// it with exit status 0.
func TestAuditServesTheRoom(t *testing.T) {
	cmd := command(t, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "first line %q", line)

	var out bytes.Buffer
	require.NoError(t, chat.Member(t.Context(), addr, "alice", strings.NewReader("hi\n"), &out))
	assert.Equal(t, "[joined]\nalice: hi\n", out.String())

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		require.NoError(t, err, "SIGTERM: a clean exit; stderr: %s", &stderr)
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the server did not exit within 10 s of SIGTERM")
	}
}
