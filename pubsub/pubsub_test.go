package pubsub_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, b *pubsub.Broker) string {
	t.Helper()
	s := server.New()
	require.NoError(t, b.Register(s))
	return ferrytest.Serve(t, s)
}

// TestFanOut: one publisher, 100 subscribers that keep up (Block policy:
// lossless), one stalled subscriber (DropOldest): every subscriber that
// reads gets every message in order, and the stalled one only loses its
// own messages.
func TestFanOut(t *testing.T) {
	messages := 100_000
	if raceEnabled {
		messages = 10_000
	}
	b := pubsub.NewBroker(pubsub.WithQueue(1024, pubsub.Block), pubsub.WithBlockTimeout(10*time.Second))
	addr := start(t, b)
	clients := []*client.Client{ferrytest.Dial(t, addr), ferrytest.Dial(t, addr), ferrytest.Dial(t, addr), ferrytest.Dial(t, addr)}
	ctx := t.Context()
	const subscribers = 100
	subs := make([]*pubsub.Subscription, subscribers)
	for i := range subs {
		s, err := pubsub.Subscribe(ctx, clients[i%len(clients)], "ticks")
		require.NoError(t, err)
		subs[i] = s
	}
	stalled, err := pubsub.Subscribe(ctx, clients[0], "ticks", pubsub.WithPolicy(pubsub.DropOldest), pubsub.WithQueueLen(16))
	require.NoError(t, err)
	defer stalled.Close()
	require.Equal(t, subscribers+1, b.Subscribers("ticks"))

	var wg sync.WaitGroup
	errs := make(chan error, subscribers)
	for _, s := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.Close()
			for want := 0; want < messages; want++ {
				var got int
				if err := s.Next(ctx, &got); err != nil {
					errs <- err
					return
				}
				if got != want {
					errs <- ferry.Errorf(ferry.CodeDataLoss, "got message %d, want %d", got, want)
					return
				}
			}
		}()
	}
	t0 := time.Now()
	for i := 0; i < messages; i++ {
		n, err := b.Publish(ctx, "ticks", i)
		require.NoError(t, err)
		require.Equal(t, subscribers+1, n) // DropOldest always queues
	}
	wg.Wait()
	elapsed := time.Since(t0)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// The stalled subscriber kept only what its queue and the stream
	// window held; the rest was dropped and counted.
	received, prev := 0, -1
	short, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for prev < messages-1 {
		var v int
		require.NoError(t, stalled.Next(short, &v))
		require.Greater(t, v, prev, "in order")
		received, prev = received+1, v
	}
	assert.Greater(t, stalled.Dropped(), uint64(0))
	assert.Equal(t, messages, received+int(stalled.Dropped()), "every message was delivered or counted as dropped")
	t.Logf("%d messages to %d subscribers in %v (%.0f deliveries/s); the stalled subscriber dropped %d",
		messages, subscribers, elapsed, float64(messages*subscribers)/elapsed.Seconds(), stalled.Dropped())
}

func TestSlowSubscriberIsDisconnected(t *testing.T) {
	b := pubsub.NewBroker(pubsub.WithQueue(8, pubsub.Disconnect))
	addr := start(t, b)
	c := ferrytest.Dial(t, addr)
	slow, err := pubsub.Subscribe(t.Context(), c, "t")
	require.NoError(t, err)
	defer slow.Close()
	big := make([]byte, 64<<10) // fills the stream window quickly
	for i := 0; i < 200 && b.Subscribers("t") > 0; i++ {
		_, err := b.Publish(t.Context(), "t", big)
		require.NoError(t, err)
	}
	var err2 error
	for err2 == nil {
		err2 = slow.Next(t.Context(), nil)
	}
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err2), "%v", err2)
	assert.Equal(t, 0, b.Subscribers("t"))
}

func TestClientsPublishThroughTheServer(t *testing.T) {
	b := pubsub.NewBroker()
	addr := start(t, b)
	alice, bob := ferrytest.Dial(t, addr), ferrytest.Dial(t, addr)
	sub, err := pubsub.Subscribe(t.Context(), bob, "room")
	require.NoError(t, err)
	n, err := pubsub.Publish(t.Context(), alice, "room", map[string]string{"from": "alice", "text": "hi"})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var msg map[string]string
	require.NoError(t, sub.Next(t.Context(), &msg))
	assert.Equal(t, map[string]string{"from": "alice", "text": "hi"}, msg)

	_, err = pubsub.Publish(t.Context(), alice, "", "x")
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))

	require.NoError(t, sub.Close())
	require.Eventually(t, func() bool { return b.Subscribers("room") == 0 }, 5*time.Second, time.Millisecond)
	err = sub.Next(t.Context(), &msg)
	require.Error(t, err)
}

func TestUnsubscribeOnCancelAndDisconnect(t *testing.T) {
	b := pubsub.NewBroker()
	addr := start(t, b)
	c := ferrytest.Dial(t, addr)
	ctx, cancel := context.WithCancel(t.Context())
	_, err := pubsub.Subscribe(ctx, c, "a")
	require.NoError(t, err)
	c2, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	s2, err := pubsub.Subscribe(t.Context(), c2, "a")
	require.NoError(t, err)
	require.Equal(t, 2, b.Subscribers("a"))
	cancel()
	require.Eventually(t, func() bool { return b.Subscribers("a") == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, c2.Close())
	require.Eventually(t, func() bool { return b.Subscribers("a") == 0 }, 5*time.Second, time.Millisecond)
	require.Error(t, s2.Next(t.Context(), nil))
	s2.Close()
}
