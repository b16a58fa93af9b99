package main

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/cluster/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain lets this test binary be the demo's server child too.
func TestMain(m *testing.M) {
	if demo.ServeIfChild(demo.Static{}) {
		return
	}
	// A server child built with -race would sleep 1 s on exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	goleak.VerifyTestMain(m)
}

// A short run of the kill scenario: servers are child processes, one is
// killed with SIGKILL and restarted. Idempotent calls all succeed; the
// calls that are not idempotent may fail when they ran on the killed
// server (at most one per caller), and none runs twice.
func TestDemo(t *testing.T) {
	cfg := demo.DefaultConfig()
	cfg.Duration, cfg.KillAt, cfg.RestartAt = 4*time.Second, time.Second, 2*time.Second
	cfg.BackoffMax = 500 * time.Millisecond
	cfg.Verbose = testing.Verbose()
	sum, err := demo.Run(t.Context(), cfg, demo.Static{}, os.Stderr)
	require.NoError(t, err)
	t.Log(sum)
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=\d+ duplicates=\d+ per-server=\d+,\d+,\d+$`), sum.String())
	assert.Equal(t, sum.Calls, sum.OK+sum.Failed)
	assert.LessOrEqual(t, sum.Failed, int64(cfg.Callers))
	assert.Zero(t, sum.Duplicates)
	assert.Zero(t, sum.Lost, "a successful call was recorded")
	assert.Zero(t, sum.Phantoms, "a call refused as not executed did not run")
	assert.Less(t, sum.LeftRotation, time.Second)
	assert.Positive(t, sum.Pickup, "the restarted server served calls")
	assert.Less(t, sum.Pickup, 2*time.Second)
}

// A short rolling deploy: three rounds of graceful restarts, and not one
// call fails or runs twice, though half of them are not idempotent.
func TestRollingDeploy(t *testing.T) {
	cfg := demo.DefaultConfig()
	cfg.Scenario, cfg.Duration = demo.ScenarioRolling, 5*time.Second
	cfg.BackoffMax = 200 * time.Millisecond
	cfg.Verbose = testing.Verbose()
	sum, err := demo.Run(t.Context(), cfg, demo.Static{}, os.Stderr)
	require.NoError(t, err)
	t.Log(sum)
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=\d+ duplicates=\d+ per-server=\d+,\d+,\d+ restarts=9$`), sum.String())
	assert.Equal(t, sum.Calls, sum.OK+sum.Failed)
	assert.Zero(t, sum.Failed)
	assert.Zero(t, sum.Duplicates)
	assert.Zero(t, sum.Lost)
	assert.Zero(t, sum.Phantoms)
	assert.Equal(t, 9, sum.Restarts)
	for i, n := range sum.PerServer {
		assert.Positive(t, n, "server %d served", i+1)
	}
}
