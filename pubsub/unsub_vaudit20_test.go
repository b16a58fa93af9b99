package pubsub_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vaudit20Subscribe serves b and subscribes to topic "t" through a raw
// stream that then reads nothing more; it returns the client and the
// first batch (its ID names the subscription). The stream closes at t's
// cleanup.
func vaudit20Subscribe(t *testing.T, b *pubsub.Broker) (*client.Client, pubsub.Batch) {
	t.Helper()
	s := server.New()
	require.NoError(t, b.Register(s))
	c := ferrytest.Dial(t, ferrytest.Serve(t, s))
	st, err := c.NewStream(t.Context(), pubsub.SubscribeMethod)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	require.NoError(t, st.Send(&pubsub.SubscribeArgs{Topic: "t"}))
	require.NoError(t, st.CloseSend())
	var first pubsub.Batch
	require.NoError(t, st.Recv(&first))
	return c, first
}

// TestVaudit20UnsubscribeTrueOnce checks Broker.Register's
// "PubSub.Unsubscribe (the ID of the first Batch; true if it ended a
// subscription)": for a subscriber that reads nothing after the first
// batch (its handler is then held writing a batch), the first Unsubscribe
// ends the subscription and answers true; a second, for a subscription
// already ended, answers false, as does an ID that names nothing.
func TestVaudit20UnsubscribeTrueOnce(t *testing.T) {
	b := pubsub.NewBroker()
	c, first := vaudit20Subscribe(t, b)
	require.NotEmpty(t, first.ID)

	// More than the stream's window: the handler waits to write.
	msg := bytes.Repeat([]byte{'x'}, 256<<10)
	for range 12 {
		n, err := b.Publish(t.Context(), "t", msg)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	var ok bool
	require.NoError(t, c.Call(t.Context(), pubsub.UnsubscribeMethod, first.ID, &ok))
	assert.True(t, ok, "the first Unsubscribe ends the subscription")
	require.NoError(t, c.Call(t.Context(), pubsub.UnsubscribeMethod, first.ID, &ok))
	assert.False(t, ok, "a second Unsubscribe ends nothing")
	require.NoError(t, c.Call(t.Context(), pubsub.UnsubscribeMethod, "no-such-id", &ok))
	assert.False(t, ok, "an unknown ID")
}

// TestVaudit20UnsubscribeFreesEveryBlockedPublisher checks the Block
// policy with several publishers waiting for one stalled subscriber's
// room when it unsubscribes (PubSub.Unsubscribe) while its stream stays
// open and unread: room never comes, and every waiting publisher returns
// at once, not only the first (the others waited until the batch being
// written timed out, or for the block timeout).
func TestVaudit20UnsubscribeFreesEveryBlockedPublisher(t *testing.T) {
	b := pubsub.NewBroker(pubsub.WithQueue(1, pubsub.Block), pubsub.WithBlockTimeout(time.Minute))
	c, first := vaudit20Subscribe(t, b)

	msg := bytes.Repeat([]byte{'x'}, 256<<10)
	// Fill the stream's window and the queue of one: then publishes wait.
	done := make(chan time.Time, 64)
	publish := func() {
		_, err := b.Publish(t.Context(), "t", msg)
		assert.NoError(t, err)
		done <- time.Now()
	}
	filled := false
	for i := 0; i < 20 && !filled; i++ {
		go publish()
		select {
		case <-done:
		case <-time.After(500 * time.Millisecond):
			filled = true
		}
	}
	require.True(t, filled, "a publish waits for room")
	for range 2 {
		go publish()
	}
	require.Never(t, func() bool { return len(done) > 0 }, 300*time.Millisecond, 10*time.Millisecond, "three publishes wait")

	var ok bool
	start := time.Now()
	require.NoError(t, c.Call(t.Context(), pubsub.UnsubscribeMethod, first.ID, &ok))
	require.True(t, ok)
	for i := range 3 {
		select {
		case at := <-done:
			t.Logf("publish %d returned %v after the Unsubscribe", i, at.Sub(start))
			assert.Less(t, at.Sub(start), 2*time.Second)
		case <-time.After(20 * time.Second):
			t.Fatalf("publish %d still waits 20 s after the subscriber left", i)
		}
	}
}
