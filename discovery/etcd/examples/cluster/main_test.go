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
	assert.Regexp(t, regexp.MustCompile(`^calls=\d+ ok=\d+ failed=\d+ per-server=\d+,\d+,\d+$`), sum.String())
	assert.GreaterOrEqual(t, float64(sum.OK)/float64(sum.Calls), 0.999)
	assert.Less(t, sum.LeftRotation, time.Second)
	assert.Positive(t, sum.Pickup)
	assert.Less(t, sum.Pickup, time.Second, "the new registration cuts the backoff short")
}
