package client_test

import (
	"context"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCloseWhileStreamsAreAbandoned: streams whose context ended are
// closed in the background (closing may wait for a stalled connection),
// and Client.Close "returns after the client's goroutines exit". Streams
// released while the client closes must be waited for or closed at once,
// never started after Close's wait began (under -race, a background close
// added while Close waited was reported as a WaitGroup misuse, in
// pubsub's tests, whose subscriptions close with their clients).
func TestCloseWhileStreamsAreAbandoned(t *testing.T) {
	s := server.New()
	require.NoError(t, s.HandleStream("S.Hold", server.Bidi, func(ctx context.Context, _ *server.Stream) (any, error) {
		<-ctx.Done()
		return nil, nil
	}))
	addr := ferrytest.Serve(t, s)
	for range 30 {
		c, err := client.Dial(t.Context(), addr)
		require.NoError(t, err)
		const n = 4
		streams := make([]*client.Stream, n)
		cancels := make([]context.CancelFunc, n)
		for i := range n {
			ctx, cancel := context.WithCancel(t.Context())
			cancels[i] = cancel
			streams[i], err = c.NewStream(ctx, "S.Hold")
			require.NoError(t, err)
		}
		for _, cancel := range cancels {
			cancel() // abandoned: released in the background
		}
		var wg sync.WaitGroup
		for _, st := range streams {
			wg.Go(func() { assert.NoError(t, st.Close()) })
		}
		wg.Go(func() { assert.NoError(t, c.Close()) })
		wg.Wait()
	}
}
