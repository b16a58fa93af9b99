package e2e_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview18ConcurrentLargeCalls: transport.Config.MemoryBudget bounds
// "the bytes one connection can make this side hold" (what the peer
// sends, calls it makes this side run, replies waiting to be written),
// raised so "that one message of the largest size always fits": a
// client's own requests are none of these. Callers that each send a
// request of nearly MaxMessageSize and get as much back, several at
// once, to a server that reads them all, must all succeed, over a
// session and over bare MessagePack-RPC alike.
func TestVreview18ConcurrentLargeCalls(t *testing.T) {
	scfg := transport.DefaultConfig()
	scfg.MemoryBudget = 1 << 30 // the server is not what refuses
	ccfg := transport.DefaultConfig()
	ccfg.MemoryBudget = 1 << 20 // raised to 2 × 4 MiB + 1 MiB (ConnBudget)
	const size = 3 << 20
	for _, tr := range conduits[1:] {
		t.Run(tr.name, func(t *testing.T) {
			s := newServer(t, server.WithConfig(scfg))
			c := tr.dial(t, s, client.WithConfig(ccfg))
			payload := bytes.Repeat([]byte{7}, size)
			var wg sync.WaitGroup
			errs := make(chan error, 8*3)
			start := time.Now()
			for range 8 {
				wg.Go(func() {
					for range 3 {
						var got []byte
						if err := c.Call(t.Context(), "Echo.Echo", payload, &got); err != nil {
							errs <- err
							return
						}
						if len(got) != size {
							errs <- ferry.Errorf(ferry.CodeInternal, "got %d bytes", len(got))
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				assert.NoError(t, err)
			}
			t.Logf("24 calls of 3 MiB each way, 8 at once: %v", time.Since(start).Round(time.Millisecond))
			require.NoError(t, c.Call(t.Context(), "Arith.Add", []int{1, 2}, new(int)))
		})
	}
}

// TestVreview18PlainClientBudgetReleased: a client speaking bare
// MessagePack-RPC charges its memory budget for what its server makes it
// hold, and gives it back on every path: replies read (whole, or straight
// into a []byte), replies to calls abandoned before they came (read and
// dropped), errors, the server's calls to the client's handlers and its
// notifications. A long-lived connection with a budget of 1.5 MiB makes
// 200 rounds of all of these (about 100 MiB through the budget) and
// still gets a reply of its largest message size: nothing leaked.
func TestVreview18PlainClientBudgetReleased(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 256 << 10
	cfg.MemoryBudget = 1 << 20 // raised to 2 × 256 KiB + 1 MiB
	s := newServer(t, server.WithConfig(cfg))
	var handled atomic.Int64
	require.NoError(t, server.Handle(s, "Back.Call", func(ctx context.Context, n *int) (*int, error) {
		p := server.PeerFromContext(ctx)
		var got []byte
		if err := p.Call(ctx, "Client.Echo", bytes.Repeat([]byte{1}, *n), &got); err != nil {
			return nil, err
		}
		if err := p.Notify(ctx, "Client.Note", bytes.Repeat([]byte{2}, *n)); err != nil {
			return nil, err
		}
		r := len(got)
		return &r, nil
	}))
	require.NoError(t, server.Handle(s, "Big.Get", func(ctx context.Context, n *int) (*[]byte, error) {
		b := bytes.Repeat([]byte{3}, *n)
		return &b, nil
	}))
	release := make(chan struct{})
	require.NoError(t, server.Handle(s, "Big.Late", func(ctx context.Context, n *int) (*[]byte, error) {
		<-release
		b := bytes.Repeat([]byte{4}, *n)
		return &b, nil
	}))
	notes := make(chan int, 1000)
	c := dialTCP(t, s, client.WithPlainMsgpackRPC(), client.WithConfig(cfg), client.WithHandlers(func(c *client.Client) error {
		if err := client.Handle(c, "Client.Echo", func(_ context.Context, b *[]byte) (*[]byte, error) {
			handled.Add(1)
			return b, nil
		}); err != nil {
			return err
		}
		return client.Handle(c, "Client.Note", func(_ context.Context, b *[]byte) (*struct{}, error) {
			notes <- len(*b)
			return nil, nil
		})
	}))
	ctx := t.Context()
	const rounds, size = 200, 200 << 10
	for i := range rounds {
		var b []byte
		require.NoError(t, c.Call(ctx, "Big.Get", size, &b), "round %d", i)
		require.Len(t, b, size)
		var whole any // decoded from the whole message
		require.NoError(t, c.Call(ctx, "Big.Get", 100<<10, &whole), "round %d", i)
		var n int
		require.NoError(t, c.Call(ctx, "Back.Call", 100<<10, &n), "round %d", i)
		require.Equal(t, 100<<10, n)
		select {
		case got := <-notes:
			require.Equal(t, 100<<10, got)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "the server's notification did not come", "round %d", i)
		}
		err := c.Call(ctx, "Echo.Fail", struct{}{}, nil)
		require.Error(t, err)
		require.NotEqual(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		// Abandoned: its reply comes after the caller gave up, and is
		// read and dropped.
		actx, cancel := context.WithCancel(ctx)
		call := c.Go(actx, "Big.Late", size, new([]byte))
		cancel()
		<-call.Done()
		release <- struct{}{}
		require.NoError(t, c.Notify(ctx, "Echo.Sleep", 0))
	}
	require.NoError(t, c.Call(ctx, "Arith.Add", []int{1, 2}, new(int)))
	var b []byte
	require.NoError(t, c.Call(ctx, "Big.Get", cfg.MaxMessageSize-64, &b))
	assert.Len(t, b, cfg.MaxMessageSize-64)
	assert.EqualValues(t, rounds, handled.Load())
}
