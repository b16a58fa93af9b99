package pubsub_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24PubSubDocs: the package doc's promises that other tests do
// not name: order across the server's and a client's publishes, Subscribe
// returning once registered, Publish's count and refusals, the methods
// Register serves, Next's ctx and its undecodable message.
func TestVaudit24PubSubDocs(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	c := ferrytest.Dial(t, ferrytest.Serve(t, s))
	ctx := t.Context()

	var kinds []string
	for _, m := range s.Methods() {
		kinds = append(kinds, m.Name+" "+m.Kind)
	}
	assert.Equal(t, []string{"PubSub.Publish unary", "PubSub.Subscribe server", "PubSub.Unsubscribe unary"}, kinds)

	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()
	assert.Equal(t, 1, b.Subscribers("t"), "registered once Subscribe returns")

	for i := range 20 {
		var n int
		if i%2 == 0 {
			n, err = b.Publish(ctx, "t", i)
		} else {
			n, err = pubsub.Publish(ctx, c, "t", i)
		}
		require.NoError(t, err)
		assert.Equal(t, 1, n)
	}
	for i := range 20 {
		var v int
		require.NoError(t, sub.Next(ctx, &v))
		assert.Equal(t, i, v, "in the order published")
	}

	n, err := b.Publish(ctx, "nobody", 1)
	require.NoError(t, err)
	assert.Zero(t, n)
	for name, err := range map[string]error{
		"broker, empty topic":     func() error { _, err := b.Publish(ctx, "", 1); return err }(),
		"broker, does not encode": func() error { _, err := b.Publish(ctx, "t", make(chan int)); return err }(),
		"client, empty topic":     func() error { _, err := pubsub.Publish(ctx, c, "", 1); return err }(),
		"client, does not encode": func() error { _, err := pubsub.Publish(ctx, c, "t", make(chan int)); return err }(),
		"subscribe, empty topic":  func() error { _, err := pubsub.Subscribe(ctx, c, ""); return err }(),
	} {
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", name, err)
	}

	var ended bool
	require.NoError(t, c.Call(ctx, pubsub.UnsubscribeMethod, "no-such-id", &ended))
	assert.False(t, ended)

	short, cancel := context.WithCancel(ctx)
	cancel()
	assert.Equal(t, context.Canceled, sub.Next(short, new(int)), "Next's ctx: ctx.Err()")

	_, err = b.Publish(ctx, "t", "not an int")
	require.NoError(t, err)
	_, err = b.Publish(ctx, "t", 3.5)
	require.NoError(t, err)
	_, err = b.Publish(ctx, "t", 42)
	require.NoError(t, err)
	var v int
	err = sub.Next(ctx, &v)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, codec.ErrDecode)
	err = sub.Next(ctx, &v)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "3.5 into an int is dropped: %v", err)
	require.NoError(t, sub.Next(ctx, &v), "the subscription goes on")
	assert.Equal(t, 42, v)
}

// TestVaudit24NilMessage: Publish accepts a nil v (it encodes), and "nil
// fits anything and leaves the zero value" (codec): a subscriber's Next
// takes a nil message as the zero value of v. It failed every time with
// internal ("truncated value"), the message lost for every subscriber:
// msgpack nil decodes into the batch's codec.Raw as an empty Raw, which
// Next then could not decode.
func TestVaudit24NilMessage(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	c := ferrytest.Dial(t, ferrytest.Serve(t, s))
	ctx := t.Context()
	sub, err := pubsub.Subscribe(ctx, c, "t")
	require.NoError(t, err)
	defer sub.Close()

	_, err = b.Publish(ctx, "t", nil)
	require.NoError(t, err)
	_, err = pubsub.Publish(ctx, c, "t", nil)
	require.NoError(t, err)
	_, err = b.Publish(ctx, "t", []any{nil})
	require.NoError(t, err)

	x := 5
	p := &x
	require.NoError(t, sub.Next(ctx, &p), "a nil message from the server")
	assert.Nil(t, p)
	var a any
	require.NoError(t, sub.Next(ctx, &a), "a nil message from a client")
	assert.Nil(t, a)
	var l []*int
	require.NoError(t, sub.Next(ctx, &l))
	assert.Equal(t, []*int{nil}, l)
	assert.Zero(t, sub.Dropped())
}
