package balancer_test

import (
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit18SkipUnderEveryPolicy checks Info.Skip's "A Picker returns an
// endpoint that Skip rejects only if it has no other" under every built-in
// policy, over plain and weighted sets (weight 0 included: it takes calls
// only when every other endpoint is skipped), with and without a hash
// key; and Pick's nil Info and nil Ctx.
func TestVaudit18SkipUnderEveryPolicy(t *testing.T) {
	bounded, err := balancer.BoundedConsistentHash(0)
	require.NoError(t, err)
	policies := map[string]balancer.Balancer{
		"round robin": balancer.RoundRobin(),
		"p2c":         balancer.P2C(),
		"hash":        balancer.ConsistentHash(),
		"bounded":     bounded,
	}
	_, plain := endpoints(4)
	sets := map[string][]balancer.Endpoint{
		"plain":    plain,
		"weighted": weighted(5, 1, 0, 2),
	}
	for pname, pol := range policies {
		for sname, set := range sets {
			p := pol.Build(set)
			for keep := range set {
				others := make([]balancer.Endpoint, 0, len(set)-1)
				for i, e := range set {
					if i != keep {
						others = append(others, e)
					}
				}
				for i := range 50 {
					ctx := t.Context()
					if i%2 == 0 {
						ctx = balancer.WithHashKey(ctx, fmt.Sprint("key", i))
					}
					got := p.Pick(info(ctx, others...))
					require.NotNil(t, got)
					assert.Same(t, set[keep], got, "%s over %s: only %s is not skipped", pname, sname, set[keep].Addr())
				}
				// Everything skipped: still one of the set.
				assert.Contains(t, set, p.Pick(info(t.Context(), set...)), "%s over %s, all skipped", pname, sname)
			}
			assert.Contains(t, set, p.Pick(nil), "%s over %s: nil Info", pname, sname)
			assert.Contains(t, set, p.Pick(&balancer.Info{Method: "S.M"}), "%s over %s: nil Ctx", pname, sname)
		}
	}
}
