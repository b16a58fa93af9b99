package pubsub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stalledSubscriber serves one subscription of topic with args a whose
// subscriber takes exactly one message and then stops reading: its
// deliveries block until the returned stop is called. It returns the
// subscription's ID once that one message is out of the queue.
func stalledSubscriber(t *testing.T, b *Broker, a *SubscribeArgs) (id string, stop func()) {
	t.Helper()
	ids := make(chan string, 1)
	took := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	sends := 0
	go func() {
		defer close(done)
		_, _ = b.serveSubscription(context.Background(), a, func(batch *Batch) error {
			sends++
			switch sends {
			case 1:
				ids <- batch.ID
				return nil
			case 2:
				if len(batch.Messages) != 1 {
					t.Errorf("first delivery held %d messages, want 1", len(batch.Messages))
				}
				close(took)
			}
			<-release
			return errors.New("subscriber gone")
		})
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	select {
	case id = <-ids:
	case <-ctx.Done():
		t.Fatal("the subscription was not registered")
	}
	n, err := b.Publish(ctx, a.Topic, 0)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	select {
	case <-took:
	case <-ctx.Done():
		t.Fatal("the first message was not delivered")
	}
	return id, func() {
		close(release)
		<-done
	}
}

// TestDocumentedQueueDefaults checks WithQueue's "Default 1024 messages,
// DropOldest" and WithQueueLen's "the broker caps it at its own length":
// a subscriber that stops reading keeps the newest queue-length messages
// and the rest are counted as dropped, while Publish still queues for it.
func TestDocumentedQueueDefaults(t *testing.T) {
	cases := []struct {
		name  string
		queue int // what the subscriber asks for; 0: the broker's
		keeps int
	}{
		{"broker default", 0, 1024},
		{"asks for more than the broker's", 5000, 1024},
		{"asks for less", 8, 8},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := NewBroker()
			id, stop := stalledSubscriber(t, b, &SubscribeArgs{Topic: "t", Queue: tc.queue})
			defer stop()
			const more = 1100
			for i := range more {
				n, err := b.Publish(context.Background(), "t", i+1)
				require.NoError(t, err)
				require.Equal(t, 1, n, "DropOldest always queues")
			}
			dropped, ok := b.serverDropped(id)
			require.True(t, ok)
			assert.Equal(t, uint64(more-tc.keeps), dropped)
		})
	}
	assert.Equal(t, time.Second, NewBroker().blockTimeout, "WithBlockTimeout: Default 1 s")
}
