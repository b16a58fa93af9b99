package pubsub_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eachConduit runs body with a broker served over an in-memory pipe and
// over loopback TCP; dial returns a new client of it.
func eachConduit(t *testing.T, b func() *pubsub.Broker, body func(t *testing.T, br *pubsub.Broker, dial func() *client.Client)) {
	t.Run("pipe", func(t *testing.T) {
		br := b()
		s := server.New()
		require.NoError(t, br.Register(s))
		t.Cleanup(func() { s.Close() })
		body(t, br, func() *client.Client { return ferrytest.Pipe(t, s) })
	})
	t.Run("tcp", func(t *testing.T) {
		br := b()
		addr := start(t, br)
		body(t, br, func() *client.Client { return ferrytest.Dial(t, addr) })
	})
}

// TestNextAfterEnd: Next after Close returns an error wrapping
// ferry.ErrClosed, after the subscription's ctx ended that ctx's error:
// every time, whatever was queued, over many rounds.
func TestNextAfterEnd(t *testing.T) {
	eachConduit(t, func() *pubsub.Broker { return pubsub.NewBroker() }, func(t *testing.T, b *pubsub.Broker, dial func() *client.Client) {
		c := dial()
		ctx := t.Context()
		for round := range 10 {
			// Close, with messages queued and in flight.
			sub, err := pubsub.Subscribe(ctx, c, "t")
			require.NoError(t, err)
			for i := range 10 {
				_, err := b.Publish(ctx, "t", i)
				require.NoError(t, err)
			}
			var v int
			require.NoError(t, sub.Next(ctx, &v))
			require.NoError(t, sub.Close())
			for range 2 {
				err = sub.Next(ctx, &v)
				require.ErrorIs(t, err, ferry.ErrClosed, "round %d", round)
				assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
			}
			require.NoError(t, sub.Close(), "Close twice")

			// The subscription's ctx canceled, then Close: ctx's error wins.
			sctx, cancel := context.WithCancel(ctx)
			sub, err = pubsub.Subscribe(sctx, c, "t")
			require.NoError(t, err)
			_, err = b.Publish(ctx, "t", 1)
			require.NoError(t, err)
			cancel()
			for range 2 {
				assert.Equal(t, context.Canceled, sub.Next(ctx, &v), "round %d", round)
			}
			require.NoError(t, sub.Close())
			assert.Equal(t, context.Canceled, sub.Next(ctx, &v))

			// Close while Next waits in another goroutine.
			sub, err = pubsub.Subscribe(ctx, c, "t")
			require.NoError(t, err)
			got := make(chan error, 1)
			go func() { got <- sub.Next(ctx, &v) }()
			require.NoError(t, sub.Close())
			select {
			case err := <-got:
				assert.ErrorIs(t, err, ferry.ErrClosed)
			case <-time.After(10 * time.Second):
				t.Fatal("Next did not return after Close")
			}
			require.Eventually(t, func() bool { return b.Subscribers("t") == 0 }, 5*time.Second, time.Millisecond)
		}

		// A deadline.
		dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		sub, err := pubsub.Subscribe(dctx, c, "t")
		if err == nil {
			err = sub.Next(ctx, nil)
			defer sub.Close()
		}
		assert.Equal(t, context.DeadlineExceeded, err)

		// Next's own ctx.
		sub, err = pubsub.Subscribe(ctx, c, "t")
		require.NoError(t, err)
		nctx, ncancel := context.WithCancel(ctx)
		ncancel()
		assert.Equal(t, context.Canceled, sub.Next(nctx, nil))
		_, err = b.Publish(ctx, "t", 7)
		require.NoError(t, err)
		var v int
		require.NoError(t, sub.Next(ctx, &v), "the subscription lives on")
		assert.Equal(t, 7, v)
		require.NoError(t, sub.Close())
	})
}

// TestDroppedExactOnDisconnect: a subscriber disconnected by the Disconnect
// policy learns the exact count of what it lost: what it received plus
// Dropped is every message published while it was subscribed.
func TestDroppedExactOnDisconnect(t *testing.T) {
	eachConduit(t, func() *pubsub.Broker { return pubsub.NewBroker(pubsub.WithQueue(8, pubsub.Disconnect)) }, func(t *testing.T, b *pubsub.Broker, dial func() *client.Client) {
		for round := range 5 {
			c := dial()
			sub, err := pubsub.Subscribe(t.Context(), c, "t")
			require.NoError(t, err)
			big := make([]byte, 16<<10) // fills the stream window quickly
			offered := 0
			for i := 0; i < 1000; i++ {
				n, err := b.Publish(t.Context(), "t", big)
				require.NoError(t, err)
				offered++
				if n == 0 {
					break // this one overflowed the queue: the subscriber is out
				}
			}
			received := 0
			var end error
			for range 2000 {
				if end = sub.Next(t.Context(), nil); end != nil {
					break
				}
				received++
			}
			require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(end), "%v", end)
			assert.Greater(t, sub.Dropped(), uint64(0))
			assert.Equal(t, offered, received+int(sub.Dropped()), "round %d: received %d, dropped %d", round, received, sub.Dropped())
			require.NoError(t, sub.Close())
		}
	})
}

// TestCloseOnDeadConnection: Close does not wait long for a server that
// cannot answer, and Next then says closed.
func TestCloseOnDeadConnection(t *testing.T) {
	eachConduit(t, func() *pubsub.Broker { return pubsub.NewBroker() }, func(t *testing.T, b *pubsub.Broker, dial func() *client.Client) {
		c := dial()
		sub, err := pubsub.Subscribe(t.Context(), c, "t")
		require.NoError(t, err)
		require.NoError(t, c.Close())
		t0 := time.Now()
		sub.Close()
		assert.Less(t, time.Since(t0), 3*time.Second)
		err = sub.Next(t.Context(), nil)
		assert.True(t, errors.Is(err, ferry.ErrClosed), "%v", err)
	})
}
