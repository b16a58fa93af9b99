package client

import (
	"testing"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocumentedDefaults checks the defaults the option docs state:
// WithMaxConcurrentCalls 1024, WithConfig transport.DefaultConfig(),
// Ferry's session protocol (not plain MessagePack-RPC), plaintext, no
// token.
func TestDocumentedDefaults(t *testing.T) {
	o, err := buildOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, 1024, o.maxCalls)
	assert.Equal(t, transport.DefaultConfig(), o.cfg)
	assert.False(t, o.plain)
	assert.Nil(t, o.tls)
	assert.Empty(t, o.token)
	assert.Nil(t, o.serverAuth)
}
