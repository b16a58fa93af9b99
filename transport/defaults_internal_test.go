package transport

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDocumentedDefaults: the defaults PROTOCOL.md section 8 and the
// Config docs state are the ones yamux gets.
func TestDocumentedDefaults(t *testing.T) {
	cfg := DefaultConfig()
	assert.Equal(t, uint32(1<<20), cfg.StreamWindow, "stream window 1 MiB")
	y := cfg.yamux()
	assert.Equal(t, uint32(1<<20), y.MaxStreamWindowSize)
	assert.Equal(t, 64, y.AcceptBacklog, "accept backlog 64")
	assert.Equal(t, cfg.WriteTimeout, y.ConnectionWriteTimeout)
}
