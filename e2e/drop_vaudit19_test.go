package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestVaudit19DropWhileCallingBack: a client's connection drops (its TCP
// connection closed under it) while its server waits on it in a call
// back (Peer.Call) and in a stream back (Peer.NewStream), and while the
// client waits on the server's handlers that make them. Both sides notice
// at once, not after a keepalive: the server's calls back fail
// (unavailable or canceled, outcome unknown: they were sent), its
// handlers return (the stream's sees its context canceled), the client's handlers see their context end (the
// handler of the stream the server opened did not: it ran until the
// application closed the client), its calls fail outcome unknown, and
// once the client is closed neither side leaves a goroutine behind.
func TestVaudit19DropWhileCallingBack(t *testing.T) {
	s := server.New()
	back := make(chan error, 2)
	require.NoError(t, server.Handle(s, "S.CallBack", func(ctx context.Context, _ *struct{}) (*int, error) {
		err := server.PeerFromContext(ctx).Call(ctx, "C.Block", nil, nil)
		back <- err
		return nil, err
	}))
	require.NoError(t, server.Handle(s, "S.StreamBack", func(ctx context.Context, _ *struct{}) (*int, error) {
		st, err := server.PeerFromContext(ctx).NewStream(ctx, "C.Stream")
		if err == nil {
			defer st.Close()
			err = st.Recv(nil)
		}
		back <- err
		return nil, err
	}))
	serverStarted, serverEnded := make(chan struct{}), make(chan error, 1)
	require.NoError(t, s.HandleStream("S.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		close(serverStarted)
		<-ctx.Done()
		serverEnded <- ctx.Err()
		return nil, ctx.Err()
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() {
		require.NoError(t, s.Shutdown(context.Background()))
		<-served
	}()
	before := []goleak.Option{goleak.IgnoreCurrent()}

	conn, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	entered, ended := make(chan struct{}, 2), make(chan struct{}, 2)
	c, err := client.New(conn, client.WithHandlers(func(c *client.Client) error {
		if err := client.Handle(c, "C.Block", func(ctx context.Context, _ *struct{}) (*int, error) {
			entered <- struct{}{}
			<-ctx.Done()
			ended <- struct{}{}
			return nil, ctx.Err()
		}); err != nil {
			return err
		}
		return c.HandleStream("C.Stream", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
			entered <- struct{}{}
			<-ctx.Done()
			ended <- struct{}{}
			return nil, ctx.Err()
		})
	}))
	require.NoError(t, err)
	calls := []*ferry.Call{
		c.Go(t.Context(), "S.CallBack", nil, nil),
		c.Go(t.Context(), "S.StreamBack", nil, nil),
	}
	wait, err := c.NewStream(t.Context(), "S.Wait")
	require.NoError(t, err)
	require.NoError(t, wait.Send("hi")) // the server has the stream once it has a message
	select {
	case <-serverStarted:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream's handler did not start")
	}
	for range 2 {
		select {
		case <-entered:
		case <-time.After(5 * time.Second):
			t.Fatal("a call back did not arrive")
		}
	}
	start := time.Now()
	require.NoError(t, conn.Close()) // the drop, under the client
	const prompt = 2 * time.Second   // well under a keepalive (~25 s)
	for range 2 {
		select {
		case err := <-back:
			// Its handler's context ends too: canceled, or unavailable.
			assert.Contains(t, []ferry.Code{ferry.CodeUnavailable, ferry.CodeCanceled}, ferry.CodeOf(err), "%v", err)
			assert.False(t, ferry.NotExecuted(err), "sent, so the outcome is unknown: %v", err)
		case <-time.After(prompt):
			t.Fatal("the server's call back did not end")
		}
		select {
		case <-ended:
		case <-time.After(prompt):
			t.Fatal("the client's handler did not see its context end")
		}
	}
	select {
	case err := <-serverEnded:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(prompt):
		t.Fatal("the server's stream handler did not see its context end")
	}
	assert.Error(t, wait.Recv(nil))
	for _, call := range calls {
		select {
		case <-call.Done():
			assert.False(t, ferry.NotExecuted(call.Err()), "%v", call.Err())
		case <-time.After(prompt):
			t.Fatal("the client's call did not end")
		}
	}
	t.Logf("everything ended %v after the drop", time.Since(start).Round(time.Millisecond))
	require.NoError(t, c.Close())
	goleak.VerifyNone(t, before...)
}
