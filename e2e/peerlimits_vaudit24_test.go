package e2e_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24PeerCallsAsCalls: a Peer's calls have "the same deadlines,
// cancellation, errors, metadata, interceptors and limits as calls in the
// other direction": the client's handler sees the server's deadline and
// cancel; client.WithMaxConcurrentCalls queues one and refuses the next;
// a typed client HandleBidi sees io.EOF once the server closed its side.
func TestVaudit24PeerCallsAsCalls(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	s := newServer(t, server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	blocker := newBlocker()
	deadlines := make(chan time.Duration, 1)
	c := dialTCP(t, s, client.WithMaxConcurrentCalls(1), client.WithHandlers(func(c *client.Client) error {
		if err := client.Handle(c, "C.Block", blocker.handle); err != nil {
			return err
		}
		if err := client.Handle(c, "C.Deadline", func(ctx context.Context, _ *struct{}) (*bool, error) {
			d, ok := ctx.Deadline()
			if ok {
				deadlines <- time.Until(d)
			} else {
				deadlines <- -1
			}
			return nil, nil
		}); err != nil {
			return err
		}
		return client.HandleBidi(c, "C.Bidi", func(ctx context.Context, recv func() (*int, error), send func(*int) error) error {
			n := 0
			for {
				v, err := recv()
				if err == io.EOF {
					n = -n
					return send(&n)
				}
				if err != nil {
					return err
				}
				n += *v
			}
		})
	}))
	_ = c
	p := <-peers

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, p.Call(ctx, "C.Deadline", nil, nil))
	d := <-deadlines
	assert.Greater(t, d, 3*time.Second)
	assert.LessOrEqual(t, d, 5*time.Second)

	b, err := client.OpenBidi[int, int](ctx, p, "C.Bidi")
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		require.NoError(t, b.Send(&i))
	}
	require.NoError(t, b.CloseSend())
	v, err := b.Recv()
	require.NoError(t, err)
	assert.Equal(t, -6, *v)
	_, err = b.Recv()
	assert.Equal(t, io.EOF, err)
	require.NoError(t, b.Close())

	cctx, ccancel := context.WithCancel(t.Context())
	first := p.Go(cctx, "C.Block", nil, nil)
	<-blocker.started
	second := p.Go(cctx, "C.Block", nil, nil)
	var third error
	require.Eventually(t, func() bool {
		third = p.Call(t.Context(), "C.Deadline", nil, nil)
		return third != nil
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(third), "%v", third)
	assert.True(t, ferry.NotExecuted(third))
	ccancel()
	select {
	case err := <-blocker.ended:
		assert.ErrorIs(t, err, context.Canceled, "the server's cancel reaches the client's handler")
	case <-time.After(5 * time.Second):
		t.Fatal("the client's handler did not see the cancel")
	}
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(first.Wait()))
	err = second.Wait()
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
}
