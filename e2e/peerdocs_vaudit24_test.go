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

// TestVaudit24PeerMode: a server handler calls its client back (unary,
// streams through the typed openers), and what the Peer's docs say of
// Done, Err, Identity and a client without streaming handlers.
func TestVaudit24PeerMode(t *testing.T) {
	peers := make(chan *server.Peer, 4)
	s := newServer(t, server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	require.NoError(t, server.Handle(s, "B.Back", func(ctx context.Context, _ *struct{}) (*[]int, error) {
		p := server.PeerFromContext(ctx)
		var out []int
		var n int
		if err := p.Call(ctx, "C.Twice", 21, &n); err != nil {
			return nil, err
		}
		out = append(out, n)
		two := 2
		r, err := client.OpenServerStream[int, int](ctx, p, "C.Count", &two)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		for {
			v, err := r.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			out = append(out, *v)
		}
		w, err := client.OpenClientStream[int, int](ctx, p, "C.Sum")
		if err != nil {
			return nil, err
		}
		defer w.Close()
		for i := 1; i <= 3; i++ {
			if err := w.Send(&i); err != nil {
				return nil, err
			}
		}
		sum, err := w.CloseAndRecv()
		if err != nil {
			return nil, err
		}
		out = append(out, *sum)
		return &out, nil
	}))
	require.NoError(t, server.Handle(s, "B.Up", func(ctx context.Context, x *int) (*int, error) {
		y := *x + 1
		return &y, nil
	}))
	c := dialTCP(t, s, client.WithHandlers(func(c *client.Client) error {
		if err := client.Handle(c, "C.Twice", func(ctx context.Context, x *int) (*int, error) {
			// and back again, through ConnFromContext
			var up int
			if err := client.ConnFromContext(ctx).Call(ctx, "B.Up", *x, &up); err != nil {
				return nil, err
			}
			y := 2 * up
			return &y, nil
		}); err != nil {
			return err
		}
		if err := client.HandleServerStream(c, "C.Count", func(ctx context.Context, req *int, send func(*int) error) error {
			for i := 1; i <= *req; i++ {
				if err := send(&i); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
		return client.HandleClientStream(c, "C.Sum", func(ctx context.Context, recv func() (*int, error)) (*int, error) {
			sum := 0
			for {
				v, err := recv()
				if err == io.EOF {
					return &sum, nil
				}
				if err != nil {
					return nil, err
				}
				sum += *v
			}
		})
	}))
	var out []int
	require.NoError(t, c.Call(t.Context(), "B.Back", nil, &out))
	assert.Equal(t, []int{44, 1, 2, 6}, out)

	assert.Nil(t, server.PeerFromContext(t.Context()))
	assert.Nil(t, client.ConnFromContext(t.Context()))
	assert.Nil(t, server.ShuttingDown(t.Context()))

	p := <-peers
	assert.Nil(t, p.Identity())
	assert.NoError(t, p.Err(), "nil while open")
	err := p.Call(t.Context(), "C.None", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	st, err := p.NewStream(t.Context(), "C.None")
	if err == nil {
		err = st.Recv(new(int))
		st.Close()
	}
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	require.NoError(t, c.Close())
	select {
	case <-p.Done():
		assert.Error(t, p.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("Done was not closed when the client closed")
	}
	err = p.Call(t.Context(), "C.Twice", 1, nil)
	assert.Error(t, err)
}

// TestVaudit24PeerStreamsToClientsWithout: "A client that registered no
// streaming handler refuses it with CodeUnimplemented and
// ferry.NotExecuted true (from the stream's first Recv). A client
// speaking plain MessagePack-RPC has no streams: CodeUnimplemented at
// once."
func TestVaudit24PeerStreamsToClientsWithout(t *testing.T) {
	type outcome struct {
		openErr, recvErr error
	}
	got := make(chan outcome, 2)
	s := newServer(t)
	require.NoError(t, server.Handle(s, "B.Open", func(ctx context.Context, _ *struct{}) (*bool, error) {
		st, err := server.PeerFromContext(ctx).NewStream(ctx, "C.Stream")
		var o outcome
		o.openErr = err
		if err == nil {
			o.recvErr = st.Recv(new(int))
			st.Close()
		}
		got <- o
		return nil, nil
	}))
	c := dialTCP(t, s, client.WithHandlers(func(c *client.Client) error {
		return client.Handle(c, "C.Unary", func(ctx context.Context, _ *struct{}) (*int, error) { return new(int), nil })
	}))
	require.NoError(t, c.Call(t.Context(), "B.Open", nil, nil))
	o := <-got
	require.NoError(t, o.openErr)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(o.recvErr), "%v", o.recvErr)
	assert.True(t, ferry.NotExecuted(o.recvErr))

	plain := dialTCP(t, s, client.WithPlainMsgpackRPC())
	require.NoError(t, plain.Call(t.Context(), "B.Open", nil, nil))
	o = <-got
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(o.openErr), "%v", o.openErr)
}

// TestVaudit24ClientCloseAndGoingAway: Client.Close fails calls in flight
// with ferry.ErrClosed and cancels the handlers of streams the server
// opened; GoingAway closes on Shutdown and later calls fail unavailable,
// not executed.
func TestVaudit24ClientCloseAndGoingAway(t *testing.T) {
	b := newBlocker()
	opened := make(chan struct{}, 1)
	handlerCtx := make(chan error, 1)
	s := newServer(t)
	require.NoError(t, server.Handle(s, "B.Block", b.handle))
	require.NoError(t, server.Handle(s, "B.Open", func(ctx context.Context, _ *struct{}) (*bool, error) {
		st, err := server.PeerFromContext(ctx).NewStream(ctx, "C.Wait")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		_ = st.Recv(new(int))
		return nil, nil
	}))
	c := dialTCP(t, s, client.WithHandlers(func(c *client.Client) error {
		return c.HandleStream("C.Wait", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
			opened <- struct{}{}
			<-ctx.Done()
			handlerCtx <- ctx.Err()
			return nil, nil
		})
	}))
	inflight := c.Go(t.Context(), "B.Block", nil, nil)
	<-b.started
	streamCall := c.Go(t.Context(), "B.Open", nil, nil)
	<-opened
	require.NoError(t, c.Close())
	err := inflight.Wait()
	assert.ErrorIs(t, err, ferry.ErrClosed)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, streamCall.Wait(), ferry.ErrClosed)
	select {
	case err := <-handlerCtx:
		assert.ErrorIs(t, err, context.Canceled)
	default:
		t.Fatal("Close returned before the stream handler it owns ended")
	}

	s2 := newServer(t)
	b2 := newBlocker()
	require.NoError(t, server.Handle(s2, "B.Block", b2.handle))
	c2 := dialTCP(t, s2)
	running := c2.Go(t.Context(), "B.Block", nil, nil)
	<-b2.started
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s2.Shutdown(ctx) }()
	select {
	case <-c2.GoingAway():
	case <-time.After(5 * time.Second):
		t.Fatal("GoingAway was not closed")
	}
	err = c2.Call(t.Context(), "Echo.Echo", 1, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	cancel() // ends the blocked handler through Shutdown's ctx
	<-shut
	assert.Error(t, running.Wait())
}
