package pubsub_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit20EndByTheConnection checks the package doc's "A subscription
// ends for one reason, which Next then returns every time: an error
// wrapping ferry.ErrClosed after Close (the Subscription's, or its
// client's) [...] CodeUnavailable when [...] the connection [...] ended":
// after the message published before it, Next returns CodeCanceled
// wrapping ferry.ErrClosed once the subscriber's own client is closed (as
// client.Stream's Recv does), and CodeUnavailable, not wrapping it, once
// the connection is lost.
func TestVaudit20EndByTheConnection(t *testing.T) {
	for _, end := range []string{"client-close", "connection-lost"} {
		t.Run(end, func(t *testing.T) {
			b := pubsub.NewBroker()
			s := server.New()
			require.NoError(t, b.Register(s))
			t.Cleanup(func() { s.Close() })
			cc, sc := net.Pipe()
			served := make(chan struct{})
			go func() { defer close(served); _ = s.ServeConn(sc) }()
			c, err := client.New(cc)
			require.NoError(t, err)
			defer func() { c.Close(); <-served }()
			sub, err := pubsub.Subscribe(t.Context(), c, "t")
			require.NoError(t, err)
			n, err := b.Publish(t.Context(), "t", 7)
			require.NoError(t, err)
			require.Equal(t, 1, n)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			var v int
			require.NoError(t, sub.Next(ctx, &v))
			require.Equal(t, 7, v)

			if end == "client-close" {
				require.NoError(t, c.Close())
			} else {
				require.NoError(t, sc.Close())
			}
			for range 3 {
				err = sub.Next(ctx, &v)
				require.Error(t, err)
				if end == "client-close" {
					assert.ErrorIs(t, err, ferry.ErrClosed)
					assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
				} else {
					assert.NotErrorIs(t, err, ferry.ErrClosed)
					assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
				}
			}
			require.NoError(t, sub.Close())
		})
	}
}
