package main

import (
	"flag"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/cluster/demo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditDefaults checks the package doc's defaults: three servers, 64
// callers, the kill scenario running 30 s, killing the first server at
// 10 s and restarting it at 20 s, three rounds for the rolling scenario,
// Demo.Who idempotent, and the reconnect backoff capped at 1 s; and that
// every flag the doc shows exists.
func TestAuditDefaults(t *testing.T) {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	cfg := defineFlags(fs)
	require.NoError(t, fs.Parse(nil))
	assert.Equal(t, demo.ScenarioKill, cfg.Scenario)
	assert.Equal(t, "kill", cfg.Scenario)
	assert.Equal(t, 3, cfg.Servers)
	assert.Equal(t, 64, cfg.Callers)
	assert.Equal(t, 30*time.Second, cfg.Duration)
	assert.Equal(t, 10*time.Second, cfg.KillAt)
	assert.Equal(t, 20*time.Second, cfg.RestartAt)
	assert.Equal(t, 3, cfg.Rounds)
	assert.True(t, cfg.Idempotent)
	assert.Equal(t, time.Second, cfg.BackoffMax)

	require.NoError(t, fs.Parse([]string{"-scenario", "rolling", "-v", "-duration", "6s", "-kill-at", "2s",
		"-restart-at", "4s", "-idempotent=false", "-backoff-max", "2s"}))
	assert.Equal(t, demo.ScenarioRolling, cfg.Scenario)
	assert.Equal(t, "rolling", cfg.Scenario)
	assert.True(t, cfg.Verbose)
	assert.Equal(t, 6*time.Second, cfg.Duration)
	assert.Equal(t, 2*time.Second, cfg.KillAt)
	assert.Equal(t, 4*time.Second, cfg.RestartAt)
	assert.False(t, cfg.Idempotent)
	assert.Equal(t, 2*time.Second, cfg.BackoffMax)
}
