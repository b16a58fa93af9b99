package pubsub_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit20BlockedPublisherFreedWhenSubscriberLeaves checks the Block
// policy ("makes the publisher wait for room, up to the block timeout")
// and the package doc's "a slow subscriber never holds up calls, nor other
// subscribers unless the Block policy makes a publisher wait for its
// room": a subscription that has ended will never make room, so a
// publisher waiting for it returns once it ends (by Close, or by its
// connection's end), not after the block timeout (a minute here), which
// would hold every other subscriber of the topic as long.
func TestVaudit20BlockedPublisherFreedWhenSubscriberLeaves(t *testing.T) {
	for _, end := range []string{"close", "connection"} {
		t.Run(end, func(t *testing.T) {
			b := pubsub.NewBroker(pubsub.WithQueue(1, pubsub.Block), pubsub.WithBlockTimeout(time.Minute))
			s := server.New()
			require.NoError(t, b.Register(s))
			addr := ferrytest.Serve(t, s)
			c, err := client.Dial(t.Context(), addr)
			require.NoError(t, err)
			defer c.Close()
			sub, err := pubsub.Subscribe(t.Context(), c, "t")
			require.NoError(t, err)

			// The subscriber reads nothing: large messages fill its stream's
			// window and its queue of one, and a publish then waits.
			msg := bytes.Repeat([]byte{'x'}, 512<<10)
			published := make(chan time.Time, 64)
			go func() {
				defer close(published)
				for range 40 {
					if _, err := b.Publish(t.Context(), "t", msg); err != nil {
						return
					}
					published <- time.Now()
				}
			}()
			blocked := false
			for i := 0; i < 40 && !blocked; i++ {
				select {
				case _, ok := <-published:
					require.True(t, ok, "every publish returned: none waited for room")
				case <-time.After(500 * time.Millisecond):
					blocked = true
				}
			}
			require.True(t, blocked, "a publisher waits for the stalled subscriber's room")

			ended := time.Now()
			if end == "close" {
				require.NoError(t, sub.Close())
			} else {
				require.NoError(t, c.Close())
			}
			select {
			case at, ok := <-published:
				if ok {
					t.Logf("the waiting publish returned %v after the subscription ended", at.Sub(ended))
					assert.Less(t, at.Sub(ended), 3*time.Second, "the waiting publish returned %v after the subscription ended", at.Sub(ended))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the publisher still waits, 10 s after its only subscriber left, for room it will never get")
			}
			require.Eventually(t, func() bool { return b.Subscribers("t") == 0 }, 5*time.Second, 5*time.Millisecond)
			for range published {
			}
		})
	}
}

// TestVaudit20ShutdownFreesEveryBlockedPublisher checks the package doc's
// "When the server begins a graceful Shutdown [...] the broker delivers
// what each subscription has queued then and ends it, so that the
// shutdown does not wait for subscribers beyond the batch each is being
// sent then: one that reads nothing holds it until that write times out
// (transport.Config.WriteTimeout)", with the Block policy and three
// clients' publishes waiting for a stalled subscriber's room: every one of
// them returns, and Shutdown returns nil within the write timeout (2 s
// here), well before the block timeout (a minute) or its ctx (20 s).
func TestVaudit20ShutdownFreesEveryBlockedPublisher(t *testing.T) {
	b := pubsub.NewBroker(pubsub.WithQueue(1, pubsub.Block), pubsub.WithBlockTimeout(time.Minute))
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 2 * time.Second
	s := server.New(server.WithConfig(cfg))
	require.NoError(t, b.Register(s))
	addr := ferrytest.Serve(t, s)
	sc := ferrytest.Dial(t, addr)
	_, err := pubsub.Subscribe(t.Context(), sc, "t")
	require.NoError(t, err)

	msg := bytes.Repeat([]byte{'x'}, 512<<10)
	const publishers = 3
	published := make(chan error, 64)
	for range publishers {
		pc := ferrytest.Dial(t, addr)
		go func() {
			for range 20 {
				_, err := pubsub.Publish(t.Context(), pc, "t", msg)
				published <- err
				if err != nil {
					return
				}
			}
		}()
	}
	blocked := false
	for i := 0; i < 3*20 && !blocked; i++ {
		select {
		case err := <-published:
			require.NoError(t, err)
		case <-time.After(500 * time.Millisecond):
			blocked = true
		}
	}
	require.True(t, blocked, "the publishers wait for the stalled subscriber's room")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = s.Shutdown(ctx)
	t.Logf("Shutdown returned %v after %v", err, time.Since(start))
	require.NoError(t, err)
	assert.Less(t, time.Since(start), cfg.WriteTimeout+2*time.Second)
}
