package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestTwoProcesses builds the example and runs a listener and a dialer as
// two processes talking over one loopback connection.
func TestTwoProcesses(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "peer")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listener := exec.CommandContext(ctx, bin, "-listen", "127.0.0.1:0")
	stdout, err := listener.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, listener.Start())
	buf := make([]byte, 4096)
	n, err := stdout.Read(buf)
	require.NoError(t, err)
	first := string(buf[:n])
	require.Contains(t, first, "listening on ")
	addr := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(first, "listener: listening on "), "\n", 2)[0])

	out, err := exec.CommandContext(ctx, bin, "-dial", addr, "-name", "bob").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), `bob: listener calls me: "who is calling?"`)
	assert.Contains(t, string(out), `bob: listener answered "nice to meet you, bob"`)
	assert.Contains(t, string(out), `bob: sent 3 readings on my feed`)
	assert.Contains(t, string(out), `bob: listener calls me: "welcome"`, "the listener pushes a greeting")

	require.NoError(t, listener.Process.Signal(os.Interrupt))
	rest := make([]byte, 0, 4096)
	for {
		n, err := stdout.Read(buf)
		rest = append(rest, buf[:n]...)
		if err != nil {
			break
		}
	}
	require.NoError(t, listener.Wait(), "the listener shuts down cleanly on SIGINT")
	assert.Contains(t, first+string(rest), `listener: bob said "hello", and on a callback "it is bob"`)
	assert.Contains(t, first+string(rest), "listener: pushed a welcome to bob, who answered", "it pushes a greeting to every node that connects")
	assert.Contains(t, first+string(rest), "listener: bob's feed: reading 1 = 20.5\nlistener: bob's feed: reading 2 = 21.0\nlistener: bob's feed: reading 3 = 21.5\n")
}
