package pubsub

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serverDropped is the broker's own count for the subscription id.
func (b *Broker) serverDropped(id string) (uint64, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	s := b.byID[id]
	if s == nil {
		return 0, false
	}
	return s.dropped.Load(), true
}

// TestDroppedExactAfterCloseAndCancel: a subscriber that stops reading
// while the publisher goes on has lost more than its last batch said;
// once the subscription ends by Close or by its ctx, Dropped is the
// broker's own count.
func TestDroppedExactAfterCloseAndCancel(t *testing.T) {
	for _, how := range []string{"close", "cancel"} {
		t.Run(how, func(t *testing.T) {
			b := NewBroker(WithQueue(4, DropOldest))
			s := server.New()
			require.NoError(t, b.Register(s))
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			go func() { _ = s.Serve(l) }()
			defer s.Close()
			c, err := client.Dial(t.Context(), l.Addr().String())
			require.NoError(t, err)
			defer c.Close()

			for round := range 5 {
				ctx, cancel := context.WithCancel(t.Context())
				sub, err := Subscribe(ctx, c, "t")
				require.NoError(t, err)
				msg := make([]byte, 1<<10)
				for range 2000 { // far more than the window and the queue hold
					_, err := b.Publish(t.Context(), "t", msg)
					require.NoError(t, err)
				}
				truth, ok := b.serverDropped(sub.id)
				require.True(t, ok)
				require.Greater(t, truth, uint64(0))
				// Nothing read: the batches that arrived said less.
				assert.Less(t, sub.Dropped(), truth, "round %d: the count before the end is stale", round)

				if how == "close" {
					require.NoError(t, sub.Close())
				} else {
					cancel()
					require.Equal(t, context.Canceled, sub.Next(t.Context(), nil))
				}
				assert.Equal(t, truth, sub.Dropped(), "round %d: the final count", round)
				require.NoError(t, sub.Close())
				cancel()
				require.Eventually(t, func() bool { return b.Subscribers("t") == 0 }, 5*time.Second, time.Millisecond)
			}
		})
	}
}
