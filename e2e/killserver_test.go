package e2e_test

import (
	"bufio"
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startKillServer builds e2e/testdata/killserver, starts it and returns the
// process and the address it serves. The process is killed at cleanup if
// the test has not killed it.
func startKillServer(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the server with:", err)
	}
	bin := filepath.Join(t.TempDir(), "killserver")
	out, err := exec.Command(goTool, "build", "-o", bin, "./testdata/killserver").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	cmd := exec.Command(bin, "-max", "2m")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	return cmd, addr[:len(addr)-1]
}

// TestKillServerProcess SIGKILLs a server process with 256 calls in flight
// on each of a Ferry session and a plain MessagePack-RPC connection: every
// call must fail within 200 ms of the kill, as outcome unknown.
func TestKillServerProcess(t *testing.T) {
	const perMode, limit = 256, 200 * time.Millisecond
	cmd, addr := startKillServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	clients := make([]*client.Client, len(clientModes))
	calls := make([][]*ferry.Call, len(clientModes))
	for i, mode := range clientModes {
		c, err := client.Dial(ctx, addr, mode.opts...)
		require.NoError(t, err)
		defer c.Close()
		clients[i] = c
		for range perMode {
			calls[i] = append(calls[i], c.Go(ctx, "Block.Wait", struct{}{}, nil))
		}
	}
	total := perMode * len(clientModes)
	var running int
	require.NoError(t, clients[0].Call(ctx, "Block.Started", total, &running))
	require.GreaterOrEqual(t, running, total)

	t0 := time.Now()
	require.NoError(t, cmd.Process.Kill())
	took := make([]time.Duration, len(clientModes))
	for i := range clientModes {
		for _, call := range calls[i] {
			<-call.Done()
		}
		took[i] = time.Since(t0)
	}
	for i, mode := range clientModes {
		t.Logf("%s: kill to the last of %d failures: %v", mode.name, perMode, took[i])
		assert.LessOrEqual(t, took[i], limit, mode.name)
		for _, call := range calls[i] {
			requireOutcomeUnknown(t, call.Err())
		}
		<-clients[i].Done()
	}
	t.Logf("a failed call: %v", calls[1][0].Err())
	_ = cmd.Wait()
}
