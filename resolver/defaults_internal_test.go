package resolver

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocumentedDefaults checks the DNS options' defaults: a lookup every
// 5 s, each bounded by 5 s, through net.DefaultResolver, A and AAAA
// records ("ip"); WithIPv4Only asks for A records only ("ip4").
func TestDocumentedDefaults(t *testing.T) {
	o, err := buildDNSOptions(nil)
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, o.interval)
	assert.Equal(t, 5*time.Second, o.timeout)
	assert.Equal(t, Lookup(net.DefaultResolver), o.lookup)
	assert.Equal(t, "ip", o.network)
	o, err = buildDNSOptions([]DNSOption{WithIPv4Only()})
	require.NoError(t, err)
	assert.Equal(t, "ip4", o.network)
}
