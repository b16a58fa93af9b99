package main

import (
	"os"
	"regexp"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain lets this test binary be the example's server child too.
func TestMain(m *testing.M) {
	if serveIfChild() {
		return
	}
	// A server child built with -race would sleep 1 s on exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}

// Three restarts of the server process under load: each new process binds
// the same port before the old one drains, and no call fails.
func TestRestartRefusesNothing(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("server.ListenReusePort is Linux only")
	}
	cfg := Config{Duration: 3 * time.Second, Restarts: 3, Callers: 8, Dialers: 2, Pace: 100 * time.Microsecond, Verbose: testing.Verbose()}
	sum, err := run(t.Context(), cfg, os.Stderr)
	require.NoError(t, err)
	t.Log(sum, sum.PerProcess, sum.Errors)
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=0 restarts=3\nfresh-connection calls=\d+ ok=\d+ failed=\d+ retried=\d+$`), sum.String())
	assert.Positive(t, sum.Fresh.OK, "calls on new connections reach the new processes")
	assert.Equal(t, sum.Calls, sum.OK+sum.Failed)
	assert.Zero(t, sum.Failed)
	assert.Equal(t, 3, sum.Restarts)
	for i, n := range sum.PerProcess {
		assert.Positive(t, n, "process %d served calls", i)
	}
}
