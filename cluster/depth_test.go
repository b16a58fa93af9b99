package cluster_test

import (
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTooDeepRequestIsTheCallersOwn: a request nested deeper than a
// message may be (the client's MaxDepth, or the server's, which the hello
// told) is refused before it is sent, resource_exhausted and not
// executed, like one over the size limit: it is not retried on another
// endpoint (each refuses it the same way, and each retry would spend the
// retry budget) and counts as no failure of the endpoint (a caller's
// deep requests must not open its breaker).
func TestTooDeepRequestIsTheCallersOwn(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	cl := newClient(t, resolver.Static(addrs(a, b)...))
	waitReady(t, cl, 2)
	var deep any = 1
	for range codec.MaxDepth {
		deep = []any{deep}
	}
	for range 8 {
		var who string
		err := cl.Call(t.Context(), "Svc.Who", deep, &who)
		require.Error(t, err)
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		assert.Contains(t, err.Error(), "nests deeper than the 64 levels", "%v", err)
	}
	var attempts, failures int64
	for _, e := range cl.Endpoints() {
		attempts += e.Attempts
		failures += e.Failures
		assert.Equal(t, "ready", e.State, "%s", e.Addr)
	}
	assert.EqualValues(t, 8, attempts, "one attempt per call: none retried")
	assert.Zero(t, failures, "no endpoint failed")
	assert.Zero(t, a.served.Load()+b.served.Load(), "no handler ran")
}
