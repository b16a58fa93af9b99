package pubsub

// Tests of pubsub's doc promises that the other tests leave open, on the
// broker's side.

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditBlockPolicy checks Block's "makes the publisher wait for room,
// up to the block timeout; a message that still does not fit is dropped
// and counted", and Publish's count of subscribers it was queued for:
// with a full queue, Publish waits about the block timeout, queues for
// nobody, and the subscription's dropped count grows by one.
func TestAuditBlockPolicy(t *testing.T) {
	const wait = 150 * time.Millisecond
	b := NewBroker(WithQueue(4, Block), WithBlockTimeout(wait))
	id, stop := stalledSubscriber(t, b, &SubscribeArgs{Topic: "t"})
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 4 {
		start := time.Now()
		n, err := b.Publish(ctx, "t", i)
		require.NoError(t, err)
		assert.Equal(t, 1, n, "room in the queue")
		assert.Less(t, time.Since(start), wait, "no wait while there is room")
	}
	start := time.Now()
	n, err := b.Publish(ctx, "t", 99)
	took := time.Since(start)
	require.NoError(t, err)
	assert.Zero(t, n, "queued for nobody")
	assert.GreaterOrEqual(t, took, wait, "waited the block timeout")
	assert.Less(t, took, 5*time.Second)
	dropped, ok := b.serverDropped(id)
	require.True(t, ok)
	assert.Equal(t, uint64(1), dropped, "dropped and counted")
}

// TestAuditQueueOptionEdges checks WithQueue's "n below 1 means 1, and a
// policy other than Block, DropOldest and Disconnect keeps the default
// policy", and that a subscriber's unknown policy gets the broker's.
func TestAuditQueueOptionEdges(t *testing.T) {
	b := NewBroker(WithQueue(0, Overflow(42)))
	assert.Equal(t, 1, b.queue)
	assert.Equal(t, DropOldest, b.policy)
	b = NewBroker(WithQueue(-5, Disconnect))
	assert.Equal(t, 1, b.queue)
	assert.Equal(t, Disconnect, b.policy)

	// A stalled subscriber asking for policy 42 on a DropOldest broker of
	// 2: publishing more keeps queueing (DropOldest), never blocks or ends it.
	b = NewBroker(WithQueue(2, DropOldest), WithBlockTimeout(time.Minute))
	id, stop := stalledSubscriber(t, b, &SubscribeArgs{Topic: "t", Policy: Overflow(42)})
	defer stop()
	for i := range 10 {
		n, err := b.Publish(context.Background(), "t", i)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	}
	dropped, ok := b.serverDropped(id)
	require.True(t, ok)
	assert.Equal(t, uint64(8), dropped)
}

// TestAuditEmptyTopic checks the documented error of an empty topic:
// ferry.CodeInvalidArgument from Broker.Publish.
func TestAuditEmptyTopic(t *testing.T) {
	_, err := NewBroker().Publish(context.Background(), "", "x")
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
	_, err = NewBroker().Publish(context.Background(), "t", func() {})
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "a value that does not encode: %v", err)
}

// TestAuditBlockBoundedByCtx checks Broker.Publish's "ctx bounds the Block
// policy's wait": with a minute's block timeout, a publisher whose ctx
// ends after 50 ms returns then, and the message is dropped and counted.
func TestAuditBlockBoundedByCtx(t *testing.T) {
	b := NewBroker(WithQueue(1, Block), WithBlockTimeout(time.Minute))
	id, stop := stalledSubscriber(t, b, &SubscribeArgs{Topic: "t"})
	defer stop()
	n, err := b.Publish(context.Background(), "t", 1)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	n, _ = b.Publish(ctx, "t", 2)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Zero(t, n)
	dropped, ok := b.serverDropped(id)
	require.True(t, ok)
	assert.Equal(t, uint64(1), dropped)
}
