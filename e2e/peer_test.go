package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A server handler calls back into the client that called it, over the
// same connection, and the client's handler calls the server again.
func TestServerCallsClientDuringACall(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		require.NoError(t, server.Handle(s, "Greeter.Hello", func(ctx context.Context, name *string) (*string, error) {
			p := server.PeerFromContext(ctx)
			require.NotNil(t, p)
			var nick string
			if err := p.Call(ctx, "Client.Nick", *name, &nick); err != nil {
				return nil, err
			}
			out := fmt.Sprintf("hello %s (%s)", *name, nick)
			return &out, nil
		}))
		c := tr.dial(t, s)
		require.NoError(t, client.Handle(c, "Client.Nick", func(ctx context.Context, name *string) (*string, error) {
			// Call the server again from inside the callback.
			var sum int64
			if err := client.ConnFromContext(ctx).Call(ctx, "Arith.Add", map[string]int64{"A": 2, "B": 3}, &sum); err != nil {
				return nil, err
			}
			nick := fmt.Sprintf("%s-%d", (*name)[:1], sum)
			return &nick, nil
		}))
		var got string
		require.NoError(t, c.Call(t.Context(), "Greeter.Hello", "ann", &got))
		assert.Equal(t, "hello ann (a-5)", got)
	})
}

type clientSide struct{ got chan string }

func (cs *clientSide) Push(ctx context.Context, msg string, ok *bool) error {
	md := ferry.IncomingMetadata(ctx)
	cs.got <- msg + "/" + md["from"]
	*ok = true
	return nil
}

func (cs *clientSide) Slow(ctx context.Context, _ struct{}, _ *bool) error {
	<-ctx.Done()
	cs.got <- "canceled"
	return ctx.Err()
}

// The server keeps peers from its connect hook and pushes to them later,
// with metadata, deadlines, cancellation and errors working the same way
// in this direction.
func TestServerPushesThroughKeptPeers(t *testing.T) {
	peers := make(chan *server.Peer, 4)
	gone := make(chan uint64, 4)
	s := newServer(t, server.WithConnHooks(
		func(p *server.Peer) { peers <- p },
		func(p *server.Peer) { gone <- p.ID() },
	))
	c := dialTCP(t, s)
	cs := &clientSide{got: make(chan string, 4)}
	require.NoError(t, c.RegisterName("Client", cs))
	p := <-peers
	assert.NotNil(t, p.RemoteAddr())

	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"from": "server"})
	var ok bool
	require.NoError(t, p.Call(ctx, "Client.Push", "one", &ok))
	assert.True(t, ok)
	assert.Equal(t, "one/server", <-cs.got)
	require.NoError(t, p.Notify(ctx, "Client.Push", "two"))
	assert.Equal(t, "two/server", <-cs.got)
	call := p.Go(ctx, "Client.Push", "three", &ok)
	require.NoError(t, call.Wait())
	assert.Equal(t, "three/server", <-cs.got)

	err := p.Call(ctx, "Client.Missing", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))

	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	err = p.Call(short, "Client.Slow", struct{}{}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, "canceled", <-cs.got)

	require.NoError(t, c.Close())
	assert.Equal(t, p.ID(), <-gone)
	<-p.Done()
	err = p.Call(t.Context(), "Client.Push", "late", &ok)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
}

// TestCancelPropagationServerToClient measures a server-side cancel
// reaching a client handler, over 1,000 trials.
func TestCancelPropagationServerToClient(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	s := newServer(t, server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	c := dialTCP(t, s)
	b := newBlocker()
	require.NoError(t, client.Handle(c, "Block.Wait", b.handle))
	p := <-peers
	const trials = 1000
	delays := make([]time.Duration, 0, trials)
	for range trials {
		ctx, cancel := context.WithCancel(t.Context())
		call := p.Go(ctx, "Block.Wait", struct{}{}, nil)
		<-b.started
		t0 := time.Now()
		cancel()
		require.ErrorIs(t, call.Wait(), context.Canceled)
		require.ErrorIs(t, <-b.ended, context.Canceled)
		delays = append(delays, time.Since(t0))
	}
	p99 := percentile(delays, 0.99)
	t.Logf("server→client cancel propagation over %d trials: p50=%v p99=%v max=%v", trials, percentile(delays, 0.5), p99, percentile(delays, 1))
	assert.LessOrEqual(t, p99, 100*time.Millisecond)
}

// TestWithHandlersServeTheConnectHook: handlers a client registers with
// client.WithHandlers exist when the server's connect hook calls back
// at once (registered after Dial, the same call can fail as
// unimplemented); an error from the registration fails Dial and closes
// the connection.
func TestWithHandlersServeTheConnectHook(t *testing.T) {
	pushed := make(chan error, 1)
	s := newServer(t, server.WithConnHooks(func(p *server.Peer) {
		var reply string
		err := p.Call(t.Context(), "Node.Greet", "welcome", &reply)
		if err == nil && reply != "thanks for welcome" {
			err = fmt.Errorf("the client answered %q", reply)
		}
		pushed <- err
	}, nil))
	addr := listen(t, s)
	for i := range 20 {
		c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
			return client.Handle(c, "Node.Greet", func(_ context.Context, s *string) (*string, error) {
				r := "thanks for " + *s
				return &r, nil
			})
		}))
		require.NoError(t, err)
		require.NoError(t, <-pushed, "connection %d: the push at connect found its handler", i)
		require.NoError(t, c.Close())
	}

	bad := errors.New("a handler registered twice")
	_, err := client.Dial(t.Context(), addr, client.WithHandlers(func(*client.Client) error { return bad }))
	require.ErrorIs(t, err, bad)
	assert.True(t, ferry.NotExecuted(err))
	require.Eventually(t, func() bool { return len(s.Conns()) == 0 }, 5*time.Second, time.Millisecond,
		"the connection closed")
	_, err = client.Dial(t.Context(), addr, client.WithHandlers(nil))
	require.Error(t, err)

	// Several run in order.
	var order []int
	c, err := client.Dial(t.Context(), addr,
		client.WithHandlers(func(*client.Client) error { order = append(order, 1); return nil }),
		client.WithHandlers(func(c *client.Client) error {
			order = append(order, 2)
			return client.Handle(c, "Node.Greet", func(_ context.Context, s *string) (*string, error) {
				r := "thanks for " + *s
				return &r, nil
			})
		}))
	require.NoError(t, err)
	require.NoError(t, <-pushed)
	require.NoError(t, c.Close())
	assert.Equal(t, []int{1, 2}, order)
}
