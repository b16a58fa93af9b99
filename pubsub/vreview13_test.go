package pubsub_test

import (
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13SubscriberWithASmallerLimit: a subscriber whose client has
// a smaller MaxMessageSize than the server's. The package doc: "A message
// too large to reach the subscriber ... is dropped and counted, and the
// subscription goes on"; PROTOCOL.md 9: a batch "stays well within a
// subscriber's message size limit". Messages that fit the subscriber one
// by one all arrive, however they are batched, and one that does not is
// dropped and counted.
func TestVreview13SubscriberWithASmallerLimit(t *testing.T) {
	const limit = 16 << 10
	b := pubsub.NewBroker(pubsub.WithQueue(1024, pubsub.DropOldest))
	s := server.New() // the default 4 MiB limit
	require.NoError(t, b.Register(s))
	t.Cleanup(func() { s.Close() })
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = limit
	c := ferrytest.Pipe(t, s, client.WithConfig(cfg))
	ctx := t.Context()
	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()

	t.Run("batches", func(t *testing.T) { runBatches(t, b, sub, 0) })
	t.Run("oversize", func(t *testing.T) {
		_, err = b.Publish(ctx, "t", make([]byte, limit+1))
		require.NoError(t, err)
		_, err = b.Publish(ctx, "t", "after")
		require.NoError(t, err)
		var got string
		require.NoError(t, sub.Next(ctx, &got), "the subscription goes on")
		assert.Equal(t, "after", got)
		assert.Equal(t, uint64(1), sub.Dropped())
	})
	t.Run("exact", func(t *testing.T) {
		// A batch of one L-byte bin (L from 256 to 65,535) is a frame of
		// L+12 bytes: [3, {"m": [bin], "d": n}], n below 128.
		_, err = b.Publish(ctx, "t", make([]byte, limit-11))
		require.NoError(t, err)
		_, err = b.Publish(ctx, "t", make([]byte, limit-12))
		require.NoError(t, err)
		var got []byte
		require.NoError(t, sub.Next(ctx, &got))
		assert.Len(t, got, limit-12, "a frame of exactly the subscriber's limit arrives")
		assert.Equal(t, uint64(2), sub.Dropped(), "one byte more is dropped")
	})
}

// TestVreview13NextOfAMessageThatDoesNotFit: a message that does not
// decode into Next's v is a reply that does not fit, as for client.Stream's
// Recv: a *ferry.Error with CodeInternal (codec.ErrDecode still found with
// errors.Is), that message dropped, and the subscription goes on.
func TestVreview13NextOfAMessageThatDoesNotFit(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	t.Cleanup(func() { s.Close() })
	c := ferrytest.Pipe(t, s)
	ctx := t.Context()
	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()
	_, err = b.Publish(ctx, "t", "seven")
	require.NoError(t, err)
	_, err = b.Publish(ctx, "t", 8)
	require.NoError(t, err)
	var n int
	err = sub.Next(ctx, &n)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeInternal, fe.Code)
	assert.Equal(t, `ferry: internal: cannot decode the message into *int: want an integer, got "seven"`, err.Error())
	assert.ErrorIs(t, err, codec.ErrDecode)
	require.NoError(t, sub.Next(ctx, &n), "the subscription goes on")
	assert.Equal(t, 8, n)
}
