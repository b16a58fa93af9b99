package e2e_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestIdleBoundaryTraffic: traffic that starts, from both ends at once,
// around the moments an idle connection's readers park and its writers
// and accept loops exit gets through: the client's calls, the server's
// calls back into the client, streams the server opens to the client, and
// bursts of more streams than the accept backlog holds from the client.
// A graceful shutdown that starts as the readers park answers every call
// the server read.
func TestIdleBoundaryTraffic(t *testing.T) {
	const rounds, calls, streams = 4, 4, 80 // streams > AcceptBacklog (64)
	s, peers := peerServer(t)
	require.NoError(t, server.HandleClientStream(s, "Up.Sum", func(ctx context.Context, recv func() (*num, error)) (*num, error) {
		var sum num
		for {
			m, err := recv()
			if err != nil {
				return &sum, nil // io.EOF
			}
			sum.N += m.N
		}
	}))
	c := dialTCP(t, s)
	clientFeeds(t, c)
	require.NoError(t, client.Handle(c, "Client.Twice", func(_ context.Context, n *int) (*int, error) {
		r := 2 * *n
		return &r, nil
	}))
	p := <-peers

	sum := func(ctx context.Context, open func(context.Context) (*client.ClientStreamWriter[num, num], error)) error {
		w, err := open(ctx)
		if err != nil {
			return err
		}
		for i := 1; i <= 3; i++ {
			if err := w.Send(&num{i}); err != nil {
				return err
			}
		}
		got, err := w.CloseAndRecv()
		if err == nil && got.N != 6 {
			t.Errorf("sum %d, want 6", got.N)
		}
		return err
	}
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	for r := range rounds {
		// Around the end of one or two idle periods (250 ms), within 8 ms.
		<-time.After(time.Duration(1+r%2)*250*time.Millisecond - 4*time.Millisecond + time.Duration(rng.Int64N(int64(8*time.Millisecond))))
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				var got int64
				assert.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: int64(i), B: 1}, &got), "round %d", r)
				assert.Equal(t, int64(i+1), got)
			})
			wg.Go(func() {
				var got int
				assert.NoError(t, p.Call(ctx, "Client.Twice", i, &got), "round %d: the server calls back", r)
				assert.Equal(t, 2*i, got)
			})
			wg.Go(func() {
				assert.NoError(t, sum(ctx, func(ctx context.Context) (*client.ClientStreamWriter[num, num], error) {
					return client.OpenClientStream[num, num](ctx, p, "Feed.Sum")
				}), "round %d: the server opens a stream", r)
			})
		}
		if r%2 == 1 {
			for range streams {
				wg.Go(func() {
					assert.NoError(t, sum(ctx, func(ctx context.Context) (*client.ClientStreamWriter[num, num], error) {
						return client.OpenClientStream[num, num](ctx, c, "Up.Sum")
					}), "round %d: the client opens a stream", r)
				})
			}
		}
		wg.Wait()
		cancel()
	}
	// A graceful shutdown that starts with calls from both ends, as the
	// readers park: every call is answered, or fails as not executed.
	<-time.After(250*time.Millisecond + time.Duration(rng.Int64N(int64(8*time.Millisecond))))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			var got int64
			if err := c.Call(ctx, "Arith.Add", testsvc.Args{A: int64(i), B: 1}, &got); err != nil {
				assert.True(t, ferry.NotExecuted(err), "a call during shutdown: %v", err)
			}
		})
		wg.Go(func() {
			var got int
			_ = p.Call(ctx, "Client.Twice", i, &got) // the server's own calls may fail as it closes
		})
	}
	require.NoError(t, s.Shutdown(ctx))
	wg.Wait()
	<-p.Done()
}
