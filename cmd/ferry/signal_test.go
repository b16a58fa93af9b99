//go:build unix

package main

import (
	"bytes"
	"context"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
)

// TestBenchCtrlCReportsWhatCompleted sends SIGINT to a built ferry binary
// running bench: it stops sending, lets the calls in flight finish, prints
// the report and exits 0.
func TestBenchCtrlCReportsWhatCompleted(t *testing.T) {
	bin := ferryBinary(t)

	busy := make(chan struct{})
	var calls atomic.Int64
	s := server.New(server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if calls.Add(1) == 50 {
			close(busy)
		}
		time.Sleep(20 * time.Millisecond) // work, so that calls are in flight at the signal
		return next(ctx, args)
	}))
	require.NoError(t, s.Register(Arith{}))
	addr := serve(t, s)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "bench", addr, "Arith.Add", "[1,2]", "-d", "1h", "-c", "8")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	select {
	case <-busy:
	case <-t.Context().Done():
		t.Fatal("no calls")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	require.NoError(t, err, "exit 0 after Ctrl-C; stderr: %s", stderr.String())
	assert.Contains(t, stdout.String(), "Summary:")
	assert.Contains(t, stdout.String(), "[OK]")
	assert.NotContains(t, stdout.String(), "canceled")
	assert.NotContains(t, stdout.String(), "Error distribution")
	assert.GreaterOrEqual(t, calls.Load(), int64(50))
}

// TestBenchSecondCtrlCQuits: after Ctrl-C, bench waits for the calls in
// flight; when they hang (here with -timeout 0), a second Ctrl-C ends the
// process at once, as without ferry's handler.
func TestBenchSecondCtrlCQuits(t *testing.T) {
	bin := ferryBinary(t)

	busy := make(chan struct{})
	var once sync.Once
	hang := make(chan struct{})
	defer close(hang) // before the server's cleanup waits for its handlers
	s := server.New(server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		once.Do(func() { close(busy) })
		<-hang
		return next(ctx, args)
	}))
	require.NoError(t, s.Register(Arith{}))
	addr := serve(t, s)

	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), bin, "bench", addr, "Arith.Add", "[1,2]", "-d", "1h", "-c", "2", "-timeout", "0")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Start())
	select {
	case <-busy:
	case <-t.Context().Done():
		t.Fatal("no calls")
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Signals sent together may arrive as one: send until the process
	// ends, at most for 10 s.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
		select {
		case err := <-exited:
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "stdout: %s\nstderr: %s", stdout.String(), stderr.String())
			ws, ok := ee.Sys().(syscall.WaitStatus)
			require.True(t, ok)
			assert.True(t, ws.Signaled(), "ended by the signal: %v", ws)
			assert.Equal(t, syscall.SIGINT, ws.Signal())
			return
		case <-deadline:
			require.NoError(t, cmd.Process.Kill())
			<-exited
			t.Fatal("bench did not end after repeated Ctrl-C while its calls hang")
		case <-tick.C:
		}
	}
}
