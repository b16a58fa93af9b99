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

// TestOversizeMessageIsDropped: a message that cannot reach a subscriber
// (a batch of it alone passes the server's MaxMessageSize) is dropped and
// counted, and the subscription goes on; batches of messages that fit
// are split to fit. Before, the subscription ended ("deliver: message of
// N bytes exceeds the limit") without counting the message, and with a
// small limit so did ordinary batches of up to 256 KiB.
func TestOversizeMessageIsDropped(t *testing.T) {
	t.Run("oversize first", func(t *testing.T) { oversize(t, true) })
	t.Run("batches", func(t *testing.T) { oversize(t, false) })
}

func oversize(t *testing.T, first bool) {
	const limit = 16 << 10
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = limit
	b := pubsub.NewBroker(pubsub.WithQueue(1024, pubsub.DropOldest))
	s := server.New(server.WithConfig(cfg))
	require.NoError(t, b.Register(s))
	t.Cleanup(func() { s.Close() })
	c := ferrytest.Pipe(t, s, client.WithConfig(cfg))
	ctx := t.Context()
	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()

	if !first {
		// Without the oversize message first: only the batches' size.
		runBatches(t, b, sub, 0)
		return
	}
	_, err = b.Publish(ctx, "t", make([]byte, limit+1))
	require.NoError(t, err)
	_, err = b.Publish(ctx, "t", "after")
	require.NoError(t, err)
	var got string
	require.NoError(t, sub.Next(ctx, &got), "the subscription goes on")
	assert.Equal(t, "after", got)
	assert.Equal(t, uint64(1), sub.Dropped())
	runBatches(t, b, sub, 1)
}

// runBatches publishes many messages that fit one by one but not
// together, and checks that all arrive.
func runBatches(t *testing.T, b *pubsub.Broker, sub *pubsub.Subscription, dropped uint64) {
	ctx := t.Context()
	// Many messages that fit one by one but not together: all arrive.
	const n, size = 200, 1 << 10
	for i := range n {
		msg := make([]byte, size)
		msg[0] = byte(i)
		_, err := b.Publish(ctx, "t", msg)
		require.NoError(t, err)
	}
	for i := range n {
		var m []byte
		require.NoError(t, sub.Next(ctx, &m), "message %d", i)
		require.Len(t, m, size)
		assert.Equal(t, byte(i), m[0])
	}
	assert.Equal(t, dropped, sub.Dropped())
}
