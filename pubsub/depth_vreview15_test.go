package pubsub_test

import (
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vreview15Nested is 1 inside n arrays.
func vreview15Nested(n int) any {
	var v any = 1
	for range n {
		v = []any{v}
	}
	return v
}

// TestVreview15TooDeepMessageIsDropped: a message nested past a
// subscriber's MaxDepth (which its hello tells the server) cannot reach
// it, as one past its MaxMessageSize cannot: it is dropped and counted,
// and the subscription goes on (package doc). Before, one publisher's
// deep message ended every such subscription with resource_exhausted.
func TestVreview15TooDeepMessageIsDropped(t *testing.T) {
	const depth = 16
	b := pubsub.NewBroker(pubsub.WithQueue(1024, pubsub.DropOldest))
	s := server.New() // MaxDepth 64
	require.NoError(t, b.Register(s))
	t.Cleanup(func() { s.Close() })
	cfg := transport.DefaultConfig()
	cfg.MaxDepth = depth
	c := ferrytest.Pipe(t, s, client.WithConfig(cfg))
	pub := ferrytest.Pipe(t, s) // MaxDepth 64
	ctx := t.Context()
	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()

	// A batch's message is its frame's 4th level: depth-3 levels fit.
	_, err = pubsub.Publish(ctx, pub, "t", vreview15Nested(depth-3))
	require.NoError(t, err)
	var got any
	require.NoError(t, sub.Next(ctx, &got))
	_, err = pubsub.Publish(ctx, pub, "t", vreview15Nested(depth))
	require.NoError(t, err)
	_, err = pubsub.Publish(ctx, pub, "t", "after")
	require.NoError(t, err)
	var after string
	require.NoError(t, sub.Next(ctx, &after), "the subscription goes on")
	assert.Equal(t, "after", after)
	assert.Equal(t, uint64(1), sub.Dropped())
}
