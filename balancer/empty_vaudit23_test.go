package balancer_test

import (
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23EmptySetPicksNil: Picker.Pick "returns one of the endpoints
// the Picker was built with, or nil when it has none". The cluster client
// never builds over an empty set, but a policy that wraps a built-in one
// (filtering endpoints by zone, say) may be left with none; every built-in
// Picker then panicked (an integer division by zero, or rand.IntN(0))
// instead of returning nil.
func TestVaudit23EmptySetPicksNil(t *testing.T) {
	bounded, err := balancer.BoundedConsistentHash(0)
	require.NoError(t, err)
	for name, pol := range map[string]balancer.Balancer{
		"round robin": balancer.RoundRobin(),
		"p2c":         balancer.P2C(),
		"hash":        balancer.ConsistentHash(),
		"bounded":     bounded,
	} {
		for _, set := range [][]balancer.Endpoint{nil, {}} {
			p := pol.Build(set)
			for _, in := range []*balancer.Info{
				nil,
				info(t.Context()),
				info(balancer.WithHashKey(t.Context(), "k")),
			} {
				var got balancer.Endpoint
				assert.NotPanics(t, func() { got = p.Pick(in) }, name)
				assert.Nil(t, got, name)
			}
		}
	}
}
