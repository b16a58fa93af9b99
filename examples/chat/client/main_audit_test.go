package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry/examples/chat/chat"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// childArgs, when set in the environment, makes the test binary run the
// command's main with these arguments (one per line) instead of the tests.
const childArgs = "CHAT_CLIENT_TEST_ARGS"

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

// TestAuditFlags checks the defaults: the server's address,
// 127.0.0.1:7001, so that the README's "go run ./examples/chat/client
// -name alice" finds "go run ./examples/chat/server", and the name anon.
func TestAuditFlags(t *testing.T) {
	out, err := command(t, "-h").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), `server address (default "127.0.0.1:7001")`)
	assert.Contains(t, string(out), `your name in the room (default "anon")`)
}

// TestAuditRelaysStdin checks the doc's "joins a chat room and relays
// stdin to it": each line of stdin is published as -name's, the room's
// lines are printed, and the command exits 0 once stdin ends and its own
// lines came back.
func TestAuditRelaysStdin(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- chat.Serve(ctx, "127.0.0.1:0", ready) }()
	defer func() {
		cancel()
		require.NoError(t, <-served)
	}()
	addr := <-ready

	cmd := command(t, "-addr", addr, "-name", "alice")
	cmd.Stdin = strings.NewReader("hello\nhow are you?\n")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "[joined]\nalice: hello\nalice: how are you?\n", string(out))
}
