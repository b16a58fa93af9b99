package pubsub_test

import (
	"bytes"
	"testing"

	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit20UnsubscribeTrueOnce checks Broker.Register's
// "PubSub.Unsubscribe (the ID of the first Batch; true if it ended a
// subscription)": for a subscriber that reads nothing after the first
// batch (its handler is then held writing a batch), the first Unsubscribe
// ends the subscription and answers true; a second, for a subscription
// already ended, answers false, as does an ID that names nothing.
func TestVaudit20UnsubscribeTrueOnce(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	c := ferrytest.Dial(t, ferrytest.Serve(t, s))
	st, err := c.NewStream(t.Context(), pubsub.SubscribeMethod)
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&pubsub.SubscribeArgs{Topic: "t"}))
	require.NoError(t, st.CloseSend())
	var first pubsub.Batch
	require.NoError(t, st.Recv(&first))
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
