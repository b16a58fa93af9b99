package pubsub_test

// Tests of pubsub's doc promises that the other tests leave open.

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Echo is a unary service for the tests that need one next to the broker.
type Echo struct{}

// Say returns its argument.
func (Echo) Say(_ context.Context, s string, reply *string) error {
	*reply = s
	return nil
}

// TestAuditNextCtxAndPerSubscriptionPolicy checks Next's "waiting for one
// until ctx ends (then it returns ctx.Err())" without ending the
// subscription; WithPolicy's per-subscription policy (a Disconnect
// subscriber on a DropOldest broker is disconnected with
// CodeResourceExhausted while a default one only drops); and the package
// doc's "a slow subscriber never holds up calls or other subscribers":
// calls on the stalled subscribers' connection still answer.
func TestAuditNextCtxAndPerSubscriptionPolicy(t *testing.T) {
	b := pubsub.NewBroker(pubsub.WithQueue(8, pubsub.DropOldest))
	s := server.New()
	require.NoError(t, b.Register(s))
	require.NoError(t, s.Register(Echo{}))
	c := ferrytest.Dial(t, ferrytest.Serve(t, s))
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	var v int
	err = sub.Next(short, &v)
	cancelShort()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = b.Publish(ctx, "t", 7)
	require.NoError(t, err)
	require.NoError(t, sub.Next(ctx, &v), "the subscription outlives a Next's ctx")
	assert.Equal(t, 7, v)

	strict, err := pubsub.Subscribe(ctx, c, "t", pubsub.WithPolicy(pubsub.Disconnect))
	require.NoError(t, err)
	defer strict.Close()
	big := make([]byte, 64<<10) // fills the stream window quickly
	for i := 0; i < 300 && b.Subscribers("t") == 2; i++ {
		_, err := b.Publish(ctx, "t", big)
		require.NoError(t, err)
	}
	require.Equal(t, 1, b.Subscribers("t"), "the Disconnect subscriber was dropped, the other kept")
	var end error
	for i := 0; i < 1000 && end == nil; i++ {
		end = strict.Next(ctx, nil)
	}
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(end), "%v", end)

	var echo string
	require.NoError(t, c.Call(ctx, "Echo.Say", "still here", &echo))
	assert.Equal(t, "still here", echo)
	_, err = b.Publish(ctx, "t", "end")
	require.NoError(t, err)
	// The kept subscriber still receives, after whatever its DropOldest
	// queue dropped (how much depends on how fast it read: maybe none).
	got := false
	for i := 0; i < 1000 && !got; i++ {
		var m any
		require.NoError(t, sub.Next(ctx, &m))
		got = m == "end"
	}
	assert.True(t, got, "the last message reached the kept subscriber")
}

// TestAuditPublishThroughCluster checks Publish's "c is any ferry.Caller:
// ... a cluster.Client (the message then reaches the subscribers of the
// one server that takes the call)", and that an empty topic is an error
// of code ferry.CodeInvalidArgument for Subscribe and Publish.
func TestAuditPublishThroughCluster(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	addr := ferrytest.Serve(t, s)
	c := ferrytest.Dial(t, addr)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sub, err := pubsub.Subscribe(ctx, c, "news")
	require.NoError(t, err)
	defer sub.Close()

	cl, err := cluster.New(resolver.Static(addr))
	require.NoError(t, err)
	defer cl.Close()
	n, err := pubsub.Publish(ctx, cl, "news", "via the cluster")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	var msg string
	require.NoError(t, sub.Next(ctx, &msg))
	assert.Equal(t, "via the cluster", msg)

	// The documented error of an empty topic.
	_, err = pubsub.Subscribe(ctx, c, "")
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
	_, err = pubsub.Publish(ctx, cl, "", "x")
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
}
