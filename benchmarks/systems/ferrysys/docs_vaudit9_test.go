package ferrysys

import (
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlainAndAsyncRunFerrysServer checks what README.md says of
// ferry-plain and ferry-go: both run ferry's server (the same typed
// handlers), and ferry-plain's client, which speaks bare MessagePack-RPC,
// calls the same port a Ferry client does.
func TestPlainAndAsyncRunFerrysServer(t *testing.T) {
	typed := methods(t, Sync().(*system))
	assert.Equal(t, typed, methods(t, Plain().(*system)), "ferry-plain")
	assert.Equal(t, typed, methods(t, Async().(*system)), "ferry-go")
	assert.Empty(t, Plain().(*system).VariantOf(), "ferry-plain has idle connections of its own")

	sv, err := Plain().Listen()
	require.NoError(t, err)
	defer func() { require.NoError(t, sv.Close()) }()
	plain, err := sv.Dial(t.Context())
	require.NoError(t, err)
	defer plain.Close()
	require.IsType(t, plainClient{}, plain)
	_, streams := plain.(bench.StreamClient)
	assert.False(t, streams, "bare MessagePack-RPC has no streams")
	ferry, err := (&srv{sys: Sync().(*system), s: sv.(*srv).s, addr: sv.(*srv).addr}).Dial(t.Context())
	require.NoError(t, err)
	defer ferry.Close()
	for _, cl := range []bench.Client{plain, ferry} {
		for _, w := range []bench.Workload{{Message: message.Default}, {Bulk: 1 << 10}} {
			c, err := cl.(bench.SyncClient).NewCaller(w)
			require.NoError(t, err)
			require.NoError(t, c.Call(t.Context()), "%T %+v", cl, w)
			require.NoError(t, c.Check())
		}
	}
}
