package server

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// TestDocumentedDefaults checks the defaults the option docs state:
// WithMaxConcurrentCalls 1024, WithConnLimits DefaultConnLimits(),
// WithConfig transport.DefaultConfig(), WithMemoryBudget
// DefaultMemoryBudget(), no authentication, no
// TLS, unknown fields skipped.
func TestDocumentedDefaults(t *testing.T) {
	o := New().opts
	assert.Equal(t, 1024, o.maxCalls)
	total, perIP := DefaultConnLimits()
	assert.Equal(t, total, o.maxConns)
	assert.Equal(t, perIP, o.perIP)
	assert.Equal(t, transport.DefaultConfig(), o.cfg)
	assert.Equal(t, DefaultMemoryBudget(), o.memory)
	assert.Nil(t, o.auth)
	assert.Nil(t, o.tls)
	assert.False(t, o.strictFields)
	assert.Empty(t, o.interceptors)
}

// TestDefaultConnLimits checks DefaultConnLimits' doc: 10,000 and 2,500
// without a Go memory limit (or a large one); under 625 MiB, one
// connection per 64 KiB (at least 256) and a quarter of that per IP.
func TestDefaultConnLimits(t *testing.T) {
	was := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(was) })
	for _, c := range []struct {
		limit        int64
		total, perIP int
	}{
		{math.MaxInt64, 10000, 2500},
		{4 << 30, 10000, 2500},
		{625 << 20, 10000, 2500},
		{600 << 20, 9600, 2400},
		{192 << 20, 3072, 768},
		{16 << 20, 256, 64},
		{1 << 20, 256, 64},
	} {
		debug.SetMemoryLimit(c.limit)
		total, perIP := DefaultConnLimits()
		assert.Equal(t, c.total, total, "limit %d", c.limit)
		assert.Equal(t, c.perIP, perIP, "limit %d", c.limit)
		o := New().opts
		assert.Equal(t, c.total, o.maxConns)
		assert.Equal(t, c.perIP, o.perIP)
	}
}
