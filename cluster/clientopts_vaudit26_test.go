package cluster_test

import (
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit26NewChecksClientOptions: New refuses a client option that
// client.Dial refuses, with Dial's error, at once (it was only reported
// at each dial, in the error of calls that found no endpoint); valid ones
// still pass.
func TestVaudit26NewChecksClientOptions(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = -1
	for name, opt := range map[string]client.Option{
		"max calls -1":    client.WithMaxConcurrentCalls(-1),
		"max calls 2^20+": client.WithMaxConcurrentCalls(1<<20 + 1),
		"bad config":      client.WithConfig(cfg),
		"nil TLS":         client.WithTLS(nil),
		"nil auth":        client.WithServerAuth(nil),
		"nil handlers":    client.WithHandlers(nil),
	} {
		_, dialErr := client.Dial(t.Context(), "127.0.0.1:1", opt)
		require.Error(t, dialErr, name)
		c, err := cluster.New(resolver.Static("127.0.0.1:1"), cluster.WithClientOptions(client.WithLogger(nil), opt))
		if c != nil {
			c.Close()
		}
		if assert.Error(t, err, name) {
			assert.Equal(t, dialErr.Error(), err.Error(), name)
		}
		assert.Equal(t, dialErr.Error(), client.ValidateOptions(opt).Error(), name)
	}
	require.NoError(t, client.ValidateOptions(client.WithMaxConcurrentCalls(1), client.WithConfig(transport.DefaultConfig())))
	c, err := cluster.New(resolver.Static("127.0.0.1:1"), cluster.WithClientOptions(client.WithMaxConcurrentCalls(1<<20)))
	require.NoError(t, err)
	require.NoError(t, c.Close())
}
