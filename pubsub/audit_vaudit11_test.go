package pubsub_test

// Tests of pubsub's doc promises that depend on the core engine: what a
// stalled subscriber does to the others, and how a subscription ends when
// its server goes.

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallPublish publishes 64 KiB messages to topic until one Publish takes
// at least hold (then it reports true) or 200 were published. A subscriber
// that never reads fills its stream window and its queue within a few
// dozen of them.
func stallPublish(t *testing.T, b *pubsub.Broker, topic string, hold time.Duration) (published int, held bool) {
	t.Helper()
	big := make([]byte, 64<<10)
	for published < 200 {
		t0 := time.Now()
		_, err := b.Publish(t.Context(), topic, big)
		require.NoError(t, err)
		published++
		if time.Since(t0) >= hold {
			return published, true
		}
	}
	return published, false
}

// TestAuditV11StalledSubscriberAndOthers checks the package doc's "a slow
// subscriber never holds up calls, nor other subscribers unless the Block
// policy makes a publisher wait for its room" against each policy, with
// the stalled subscriber and a reading one on the same connection: with
// DropOldest and Disconnect, Publish never waits for the stalled one and
// the reader gets every message at once; with Block (as Block's doc says)
// a Publish waits for the stalled one's room up to the block timeout, and
// the reader with it. Before this audit the doc promised that no policy
// holds up other subscribers.
func TestAuditV11StalledSubscriberAndOthers(t *testing.T) {
	for _, policy := range []pubsub.Overflow{pubsub.DropOldest, pubsub.Disconnect, pubsub.Block} {
		b := pubsub.NewBroker(pubsub.WithQueue(1024, policy), pubsub.WithBlockTimeout(400*time.Millisecond))
		s := server.New()
		require.NoError(t, b.Register(s))
		c := ferrytest.Dial(t, ferrytest.Serve(t, s))
		stalled, err := pubsub.Subscribe(t.Context(), c, "t", pubsub.WithQueueLen(4))
		require.NoError(t, err)
		// The other subscriber reads everything; DropOldest with a queue
		// long enough for all, so that it never makes the publisher wait.
		reader, err := pubsub.Subscribe(t.Context(), c, "t", pubsub.WithPolicy(pubsub.DropOldest))
		require.NoError(t, err)
		var received atomic.Int64
		readerDone := make(chan struct{})
		go func() {
			defer close(readerDone)
			for reader.Next(t.Context(), nil) == nil {
				received.Add(1)
			}
		}()

		published, held := stallPublish(t, b, "t", 300*time.Millisecond)
		if policy == pubsub.Block {
			assert.True(t, held, "Block: Publish waits for the stalled subscriber's room (%d published)", published)
		} else {
			assert.False(t, held, "policy %d: no Publish waited for the stalled subscriber", policy)
			assert.Equal(t, 200, published)
		}
		assert.Eventually(t, func() bool { return received.Load() == int64(published) }, 10*time.Second, time.Millisecond,
			"policy %d: the reader gets every message beside the stalled subscriber", policy)
		assert.Equal(t, uint64(0), reader.Dropped())
		require.NoError(t, stalled.Close())
		require.NoError(t, reader.Close())
		<-readerDone
		s.Close()
	}
}

// TestAuditV11EndWhenTheServerGoes checks Next's "CodeUnavailable when
// the server shut down", every time, whether the server closes at once
// or shuts down gracefully (the broker ends the subscription once it
// delivered what was queued, so Shutdown does not wait for its deadline),
// and that the messages queued before the end are delivered first, in
// order; and
// the package doc's "A subscription ends for one reason, which Next then
// returns every time" when Close or the subscription's ctx come after.
func TestAuditV11EndWhenTheServerGoes(t *testing.T) {
	for _, graceful := range []bool{false, true} {
		b := pubsub.NewBroker()
		s := server.New()
		require.NoError(t, b.Register(s))
		addr := ferrytest.Serve(t, s)
		c := ferrytest.Dial(t, addr)
		sctx, cancelSub := context.WithCancel(t.Context())
		defer cancelSub()
		sub, err := pubsub.Subscribe(sctx, c, "t")
		require.NoError(t, err)
		for i := range 3 {
			n, err := b.Publish(t.Context(), "t", i)
			require.NoError(t, err)
			require.Equal(t, 1, n)
		}
		var v int
		require.NoError(t, sub.Next(t.Context(), &v))
		assert.Equal(t, 0, v, "in order")

		if graceful {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			t0 := time.Now()
			err := s.Shutdown(ctx)
			cancel()
			require.NoError(t, err, "the subscription does not hold the shutdown")
			assert.Less(t, time.Since(t0), 5*time.Second)
		} else {
			require.NoError(t, s.Close())
		}
		want := 1
		var end error
		for range 10 {
			if end = sub.Next(t.Context(), &v); end != nil {
				break
			}
			assert.Equal(t, want, v, "graceful %v: in order", graceful)
			want++
		}
		require.Error(t, end)
		if graceful {
			assert.Equal(t, 3, want, "every queued message was delivered first")
			assert.Contains(t, end.Error(), "the server is shutting down")
		}
		for range 2 {
			err := sub.Next(t.Context(), &v)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "graceful %v: %v", graceful, err)
		}
		assert.Equal(t, uint64(0), sub.Dropped())
		assert.Equal(t, 0, b.Subscribers("t"))
		// "A subscription ends for one reason, which Next then returns
		// every time": neither its ctx ending nor Close afterwards
		// changes it (Close used to make it ferry.ErrClosed).
		cancelSub()
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(sub.Next(t.Context(), &v)), "the ctx ended after the end")
		require.NoError(t, sub.Close())
		err = sub.Next(t.Context(), &v)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "Close after the end: %v", err)
		assert.NotErrorIs(t, err, ferry.ErrClosed)
	}
}

// TestAuditV11CloseOnAFrozenServer checks Close's "it asks the server for
// its final count (waiting at most a second), then releases the stream
// and waits for its reader to stop" against a server that stopped reading
// (a frozen process, not a closed connection): Close returns soon after
// that second, and Next then returns an error wrapping ferry.ErrClosed.
func TestAuditV11CloseOnAFrozenServer(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f := faultnet.New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(f.Listener(l))
	}()
	defer func() {
		f.Heal()
		s.Close()
		<-done
	}()
	c := ferrytest.Dial(t, l.Addr().String())
	sub, err := pubsub.Subscribe(t.Context(), c, "t")
	require.NoError(t, err)
	_, err = b.Publish(t.Context(), "t", 1)
	require.NoError(t, err)
	var v int
	require.NoError(t, sub.Next(t.Context(), &v))

	f.Stall(faultnet.Both) // the server neither reads nor writes
	t0 := time.Now()
	require.NoError(t, sub.Close())
	elapsed := time.Since(t0)
	assert.GreaterOrEqual(t, elapsed, 900*time.Millisecond, "it waited for the final count")
	assert.Less(t, elapsed, 3*time.Second, "at most a second, then the stream is released")
	assert.ErrorIs(t, sub.Next(t.Context(), &v), ferry.ErrClosed)
}

// TestAuditV11LargeMessagesQueued checks the package doc's "Every
// subscription counts the messages it lost" and "CodeResourceExhausted
// when the broker disconnected a slow subscriber" for a subscriber that
// is merely behind, and PROTOCOL.md's "A batch carries at most 256
// messages and 256 KiB of them": 200 messages of 64 KiB, published before
// it reads any, fit its default queue of 1,024 (DropOldest), so it
// receives them all, in order, losing none, even with a message size
// limit of 320 KiB. Before this audit the broker sent up to 256 queued
// messages in one frame whatever their size: the 12.5 MiB frame broke
// the 4 MiB default limit and the subscription ended with
// CodeResourceExhausted, its messages lost and not counted.
func TestAuditV11LargeMessagesQueued(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	addr := ferrytest.Serve(t, s)
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 320 << 10
	var subs []*pubsub.Subscription
	for _, c := range []*client.Client{ferrytest.Dial(t, addr), ferrytest.Dial(t, addr, client.WithConfig(cfg))} {
		sub, err := pubsub.Subscribe(t.Context(), c, "t")
		require.NoError(t, err)
		defer sub.Close()
		subs = append(subs, sub)
	}
	msg := make([]byte, 64<<10)
	for i := range 200 {
		msg[0] = byte(i)
		n, err := b.Publish(t.Context(), "t", msg)
		require.NoError(t, err)
		require.Equal(t, 2, n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for k, sub := range subs {
		for i := range 200 {
			var got []byte
			require.NoError(t, sub.Next(ctx, &got), "subscriber %d, message %d", k, i)
			require.Len(t, got, 64<<10)
			require.Equal(t, byte(i), got[0], "in order")
		}
		assert.Equal(t, uint64(0), sub.Dropped())
	}
	_, err := b.Publish(t.Context(), "t", "more")
	require.NoError(t, err)
	for _, sub := range subs {
		var more string
		require.NoError(t, sub.Next(ctx, &more), "the subscription lives on")
		assert.Equal(t, "more", more)
	}
}

// TestAuditV11StalledStreamIsCut checks the package doc's "A subscriber
// that reads nothing while a batch waits for that window longer than the
// server's write timeout ... loses the subscription whatever the policy:
// its stream is cut, Next returns CodeUnavailable (the connection itself
// lives on)", here with DropOldest, whose doc alone suggests that a slow
// subscriber only loses messages. Before this audit the doc did not say
// so, and named only the connection's end for CodeUnavailable.
func TestAuditV11StalledStreamIsCut(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
	b := pubsub.NewBroker(pubsub.WithQueue(16, pubsub.DropOldest))
	s := server.New(server.WithConfig(cfg))
	require.NoError(t, b.Register(s))
	c := ferrytest.Dial(t, ferrytest.Serve(t, s))
	sub, err := pubsub.Subscribe(t.Context(), c, "t")
	require.NoError(t, err)
	defer sub.Close()
	big := make([]byte, 64<<10) // 16 of them fill the window
	t0 := time.Now()
	require.Eventually(t, func() bool {
		_, err := b.Publish(t.Context(), "t", big)
		return err == nil && b.Subscribers("t") == 0
	}, 10*time.Second, 5*time.Millisecond, "the broker let the subscription go")
	assert.GreaterOrEqual(t, time.Since(t0), 250*time.Millisecond, "after the write timeout")

	var end error
	for range 1000 {
		if end = sub.Next(t.Context(), nil); end != nil {
			break
		}
	}
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(end), "%v", end)
	assert.NotErrorIs(t, end, ferry.ErrClosed)
	// The connection lives on: calls and a new subscription work.
	n, err := pubsub.Publish(t.Context(), c, "t", "again")
	require.NoError(t, err)
	assert.Equal(t, 0, n)
	again, err := pubsub.Subscribe(t.Context(), c, "t")
	require.NoError(t, err)
	require.NoError(t, again.Close())
}
