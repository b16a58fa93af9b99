package pubsub_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit26NilContext: pubsub's functions that take a ctx refuse a nil
// one with CodeInvalidArgument, not executed, instead of panicking
// (Subscribe and Next panicked; Broker.Publish accepted it and would
// panic on a full Block queue); the typed client openers given a client
// or a cluster refuse it the same way.
func TestVaudit26NilContext(t *testing.T) {
	b := pubsub.NewBroker()
	s := server.New()
	require.NoError(t, b.Register(s))
	addr := ferrytest.Serve(t, s)
	c := ferrytest.Dial(t, addr)
	cl, err := cluster.New(resolver.Static(addr))
	require.NoError(t, err)
	defer cl.Close()
	sub, err := pubsub.Subscribe(t.Context(), c, "t")
	require.NoError(t, err)
	defer sub.Close()

	var nilCtx context.Context
	for name, call := range map[string]func() error{
		"pubsub.Subscribe": func() error {
			s, err := pubsub.Subscribe(nilCtx, c, "t")
			if s != nil {
				s.Close()
			}
			return err
		},
		"pubsub.Publish":           func() error { _, err := pubsub.Publish(nilCtx, c, "t", 1); return err },
		"pubsub.Broker.Publish":    func() error { _, err := b.Publish(nilCtx, "t", 1); return err },
		"pubsub.Subscription.Next": func() error { var v int; return sub.Next(nilCtx, &v) },
		"client.Invoke":            func() error { _, err := client.Invoke[int](nilCtx, c, "x.Y", 1); return err },
		"client.OpenBidi":          func() error { _, err := client.OpenBidi[int, int](nilCtx, c, "x.Y"); return err },
		"client.OpenBidi cluster":  func() error { _, err := client.OpenBidi[int, int](nilCtx, cl, "x.Y"); return err },
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			require.NotPanics(t, func() { err = call() })
			require.Error(t, err)
			assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)
			assert.Contains(t, err.Error(), "nil context.Context")
		})
	}
}
