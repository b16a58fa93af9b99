package server

import (
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// TestDocumentedDefaults checks the defaults the option docs state:
// WithMaxConcurrentCalls 1024, WithConnLimits 10,000 in total and 2,500
// per IP, WithConfig transport.DefaultConfig(), WithMemoryBudget
// DefaultMemoryBudget(), no authentication, no
// TLS, unknown fields skipped.
func TestDocumentedDefaults(t *testing.T) {
	o := New().opts
	assert.Equal(t, 1024, o.maxCalls)
	assert.Equal(t, 10000, o.maxConns)
	assert.Equal(t, 2500, o.perIP)
	assert.Equal(t, transport.DefaultConfig(), o.cfg)
	assert.Equal(t, DefaultMemoryBudget(), o.memory)
	assert.Nil(t, o.auth)
	assert.Nil(t, o.tls)
	assert.False(t, o.strictFields)
	assert.Empty(t, o.interceptors)
}
