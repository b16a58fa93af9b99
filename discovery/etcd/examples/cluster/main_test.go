package main

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/cluster/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var discovery demo.Discovery

// TestMain lets this test binary be the demo's server child too.
func TestMain(m *testing.M) {
	d, err := newDiscovery(os.Getenv("FERRY_ETCD_ENDPOINTS"), 10)
	if err != nil {
		panic(err)
	}
	if d != nil {
		discovery = d
		defer d.cli.Close()
	}
	if discovery != nil && demo.ServeIfChild(discovery) {
		return
	}
	// A server child built with -race would sleep 1 s on exit.
	os.Setenv("GORACE", "atexit_sleep_ms=0")
	m.Run()
}

// A short run over etcd: the killed server's key outlives it (TTL 10 s),
// and its restart registers a new instance that the client uses at once.
func TestDemoOverEtcd(t *testing.T) {
	if discovery == nil {
		t.Skip("FERRY_ETCD_ENDPOINTS is unset: run under `bash ../../../../.ci/etcd.sh go test ./...`")
	}
	cfg := demo.DefaultConfig()
	cfg.Duration, cfg.KillAt, cfg.RestartAt = 4*time.Second, time.Second, 2*time.Second
	cfg.Verbose = testing.Verbose()
	sum, err := demo.Run(t.Context(), cfg, discovery, os.Stderr)
	require.NoError(t, err)
	t.Log(sum)
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=\d+ duplicates=\d+ per-server=\d+,\d+,\d+$`), sum.String())
	assert.LessOrEqual(t, sum.Failed, int64(cfg.Callers), "only calls that are not idempotent and ran on the killed server fail")
	assert.Zero(t, sum.Duplicates)
	assert.Less(t, sum.LeftRotation, time.Second)
	assert.Positive(t, sum.Pickup)
	assert.Less(t, sum.Pickup, time.Second, "the new registration cuts the backoff short")
}

// A short rolling deploy over etcd: each server leaves the registry before
// it drains and registers again once restarted; not one call fails or
// runs twice, though half of them are not idempotent.
func TestRollingOverEtcd(t *testing.T) {
	if discovery == nil {
		t.Skip("FERRY_ETCD_ENDPOINTS is unset: run under `bash ../../../../.ci/etcd.sh go test ./...`")
	}
	cfg := demo.DefaultConfig()
	cfg.Scenario, cfg.Duration = demo.ScenarioRolling, 5*time.Second
	cfg.Verbose = testing.Verbose()
	sum, err := demo.Run(t.Context(), cfg, discovery, os.Stderr)
	require.NoError(t, err)
	t.Log(sum)
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=\d+ duplicates=\d+ per-server=\d+,\d+,\d+ restarts=9$`), sum.String())
	assert.Equal(t, sum.Calls, sum.OK+sum.Failed)
	assert.Zero(t, sum.Failed)
	assert.Zero(t, sum.Duplicates)
	assert.Zero(t, sum.Lost)
	assert.Zero(t, sum.Phantoms)
	assert.Equal(t, 9, sum.Restarts)
}
