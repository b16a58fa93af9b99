package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestAuditDefaults checks "go run ./examples/restart # 8 callers, 10 s,
// 3 restarts", and that without -dialers the summary is the one line
// "calls=N ok=N failed=N restarts=3".
func TestAuditDefaults(t *testing.T) {
	cfg := defaultConfig()
	assert.Equal(t, 8, cfg.Callers)
	assert.Equal(t, 10*time.Second, cfg.Duration)
	assert.Equal(t, 3, cfg.Restarts)
	assert.Zero(t, cfg.Dialers)
	assert.Equal(t, "calls=5 ok=5 failed=0 restarts=3", Summary{Calls: 5, OK: 5, Restarts: 3}.String())
}
