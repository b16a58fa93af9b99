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
	goleak.VerifyTestMain(m)
}

// A short run of the demo: servers are child processes, one is killed
// with SIGKILL and restarted; idempotent calls all succeed.
func TestDemo(t *testing.T) {
	cfg := demo.DefaultConfig()
	cfg.Duration, cfg.KillAt, cfg.RestartAt = 4*time.Second, time.Second, 2*time.Second
	cfg.BackoffMax = 500 * time.Millisecond
	cfg.Verbose = testing.Verbose()
	sum, err := demo.Run(t.Context(), cfg, demo.Static{}, os.Stderr)
	require.NoError(t, err)
	t.Log(sum)
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=\d+ per-server=\d+,\d+,\d+$`), sum.String())
	assert.Equal(t, sum.Calls, sum.OK+sum.Failed)
	assert.GreaterOrEqual(t, float64(sum.OK)/float64(sum.Calls), 0.999)
	assert.Less(t, sum.LeftRotation, time.Second)
	assert.Positive(t, sum.Pickup, "the restarted server served calls")
	assert.Less(t, sum.Pickup, 2*time.Second)
}
