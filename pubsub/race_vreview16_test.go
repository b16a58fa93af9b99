package pubsub_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview16ManyBlockedPublishersManyLeaving: the Block policy's "the
// wait ends too when the subscription ends (Close, its ctx, its
// connection)" with many publishers waiting on many stalled subscribers,
// whose subscriptions end at once in every way: Close twice at the same
// time, Close racing its client's Close, and the client's Close alone.
// Every publisher returns within seconds, none waits the block timeout.
func TestVreview16ManyBlockedPublishersManyLeaving(t *testing.T) {
	b := pubsub.NewBroker(pubsub.WithQueue(1, pubsub.Block), pubsub.WithBlockTimeout(time.Minute))
	s := server.New()
	require.NoError(t, b.Register(s))
	addr := ferrytest.Serve(t, s)
	const subs = 6
	clients := make([]*client.Client, subs)
	subsOf := make([]*pubsub.Subscription, subs)
	for i := range subs {
		c, err := client.Dial(t.Context(), addr)
		require.NoError(t, err)
		defer c.Close()
		clients[i] = c
		subsOf[i], err = pubsub.Subscribe(t.Context(), c, "t")
		require.NoError(t, err)
	}
	msg := bytes.Repeat([]byte{'x'}, 256<<10)
	const pubs = 16
	var wg sync.WaitGroup
	returned := make(chan time.Time, 100*pubs)
	stop := make(chan struct{})
	for range pubs {
		wg.Go(func() {
			for range 100 {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := b.Publish(t.Context(), "t", msg); err != nil {
					return
				}
				returned <- time.Now()
			}
		})
	}
	// Wait until the publishers are stalled: nothing returns for 500 ms.
	stalled := false
	for i := 0; i < 400 && !stalled; i++ {
		select {
		case <-returned:
		case <-time.After(500 * time.Millisecond):
			stalled = true
		}
	}
	require.True(t, stalled, "the publishers wait for room")
	close(stop)

	start := time.Now()
	var ends sync.WaitGroup
	for i := range subs {
		switch i % 3 {
		case 0:
			ends.Go(func() { assert.NoError(t, subsOf[i].Close()) })
			ends.Go(func() { assert.NoError(t, subsOf[i].Close()) })
		case 1:
			ends.Go(func() { assert.NoError(t, subsOf[i].Close()) })
			ends.Go(func() { assert.NoError(t, clients[i].Close()) })
		case 2:
			ends.Go(func() { assert.NoError(t, clients[i].Close()) })
		}
	}
	done := make(chan struct{})
	go func() {
		ends.Wait()
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		t.Logf("every publisher and Close returned %v after the ends began", time.Since(start))
		assert.Less(t, time.Since(start), 5*time.Second)
	case <-time.After(30 * time.Second):
		t.Fatal("a publisher or a Close still waits 30 s after every subscription ended")
	}
	require.Eventually(t, func() bool { return b.Subscribers("t") == 0 }, 5*time.Second, 5*time.Millisecond)
}
