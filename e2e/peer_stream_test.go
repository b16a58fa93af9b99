package e2e_test

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// peerServer returns a server that hands over the Peer of each connection
// on peers.
func peerServer(t *testing.T, opts ...server.Option) (*server.Server, chan *server.Peer) {
	peers := make(chan *server.Peer, 4)
	s := newServer(t, append(opts, server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))...)
	return s, peers
}

// clientFeeds registers the client's streaming handlers.
func clientFeeds(t *testing.T, c *client.Client) {
	require.NoError(t, client.HandleBidi(c, "Feed.Double", func(ctx context.Context, recv func() (*num, error), send func(*num) error) error {
		for {
			m, err := recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := send(&num{2 * m.N}); err != nil {
				return err
			}
		}
	}))
	require.NoError(t, client.HandleServerStream(c, "Feed.Live", func(ctx context.Context, n *num, send func(*num) error) error {
		md := ferry.IncomingMetadata(ctx)
		for i := 1; i <= n.N; i++ {
			if err := send(&num{i}); err != nil {
				return err
			}
		}
		if md["fail"] != "" {
			return ferry.NewError(ferry.CodeAborted, md["fail"])
		}
		return nil
	}))
	require.NoError(t, client.HandleClientStream(c, "Feed.Sum", func(ctx context.Context, recv func() (*num, error)) (*num, error) {
		var sum num
		for {
			m, err := recv()
			if err == io.EOF {
				return &sum, nil
			}
			if err != nil {
				return nil, err
			}
			sum.N += m.N
		}
	}))
	require.NoError(t, c.HandleStream("Feed.Raw", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
		var s string
		if err := st.Recv(&s); err != nil {
			return nil, err
		}
		return "got " + s, st.Send(s + "!")
	}))
}

// The server opens every kind of stream to handlers its client
// registered, typed and untyped, through a kept Peer.
func TestServerOpensStreams(t *testing.T) {
	for _, tr := range conduits[:2] {
		t.Run(tr.name, func(t *testing.T) {
			s, peers := peerServer(t)
			c := tr.dial(t, s)
			clientFeeds(t, c)
			p := <-peers
			ctx := t.Context()

			bidi, err := client.OpenBidi[num, num](ctx, p, "Feed.Double")
			require.NoError(t, err)
			for i := range 20 {
				require.NoError(t, bidi.Send(&num{i}))
				m, err := bidi.Recv()
				require.NoError(t, err)
				assert.Equal(t, 2*i, m.N)
			}
			require.NoError(t, bidi.CloseSend())
			_, err = bidi.Recv()
			require.ErrorIs(t, err, io.EOF)

			rd, err := client.OpenServerStream[num, num](ctx, p, "Feed.Live", &num{3})
			require.NoError(t, err)
			var got []int
			for {
				m, err := rd.Recv()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				got = append(got, m.N)
			}
			assert.Equal(t, []int{1, 2, 3}, got)

			// Metadata reaches the client's handler; its error comes back
			// with its code.
			fctx := ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"fail": "feed broke"})
			rd, err = client.OpenServerStream[num, num](fctx, p, "Feed.Live", &num{1})
			require.NoError(t, err)
			_, err = rd.Recv()
			require.NoError(t, err)
			_, err = rd.Recv()
			assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err))
			assert.Contains(t, err.Error(), "feed broke")
			assert.False(t, ferry.NotExecuted(err))

			w, err := client.OpenClientStream[num, num](ctx, p, "Feed.Sum")
			require.NoError(t, err)
			for i := 1; i <= 4; i++ {
				require.NoError(t, w.Send(&num{i}))
			}
			sum, err := w.CloseAndRecv()
			require.NoError(t, err)
			assert.Equal(t, 10, sum.N)

			raw, err := p.NewStream(ctx, "Feed.Raw")
			require.NoError(t, err)
			require.NoError(t, raw.Send("hi"))
			var echo, res string
			require.NoError(t, raw.Recv(&echo))
			assert.Equal(t, "hi!", echo)
			require.ErrorIs(t, raw.Recv(nil), io.EOF)
			require.NoError(t, raw.Result(&res))
			assert.Equal(t, "got hi", res)
			require.NoError(t, raw.Close())

			_, err = p.NewStream(ctx, "Feed.Nope")
			require.NoError(t, err) // the refusal comes with the first Recv
		})
	}
}

// A server handler opens a stream to the client whose call it serves.
func TestHandlerOpensStreamToItsCaller(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Sub.Total", func(ctx context.Context, n *num) (*num, error) {
		rd, err := client.OpenServerStream[num, num](ctx, server.PeerFromContext(ctx), "Feed.Live", n)
		if err != nil {
			return nil, err
		}
		total := 0
		for {
			m, err := rd.Recv()
			if err == io.EOF {
				return &num{total}, nil
			}
			if err != nil {
				return nil, err
			}
			total += m.N
		}
	}))
	c := dialPipe(t, s)
	clientFeeds(t, c)
	var got num
	require.NoError(t, c.Call(t.Context(), "Sub.Total", &num{4}, &got))
	assert.Equal(t, 10, got.N)
}

// A client with no streaming handler refuses streams: not executed.
func TestClientWithoutStreamsRefuses(t *testing.T) {
	s, peers := peerServer(t)
	_ = dialPipe(t, s)
	p := <-peers
	st, err := p.NewStream(t.Context(), "Feed.Live")
	require.NoError(t, err)
	defer st.Close()
	err = st.Recv(nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.Contains(t, err.Error(), "serves no streams")

	// A plain MessagePack-RPC client has no streams at all.
	s2, peers2 := peerServer(t)
	c2 := dialTCP(t, s2, client.WithPlainMsgpackRPC())
	require.NoError(t, c2.Call(t.Context(), "Arith.Add", []int{1, 2}, nil)) // a plain client is served once it sends
	p2 := <-peers2
	_, err = p2.NewStream(t.Context(), "Feed.Live")
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
}

// Cancellation and deadlines cross in both directions, and the client's
// concurrency limit refuses streams beyond it.
func TestServerOpenedStreamCancelDeadlineLimit(t *testing.T) {
	s, peers := peerServer(t)
	c := dialTCP(t, s, client.WithMaxConcurrentCalls(1))
	started := make(chan struct{}, 4)
	ended := make(chan error, 4)
	require.NoError(t, c.HandleStream("Feed.Block", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
		started <- struct{}{}
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}))
	p := <-peers

	// The server cancels: the client's handler sees Canceled.
	ctx, cancel := context.WithCancel(t.Context())
	st, err := p.NewStream(ctx, "Feed.Block")
	require.NoError(t, err)
	<-started
	// The limit of one running call: a second stream is refused.
	second, err := p.NewStream(t.Context(), "Feed.Block")
	require.NoError(t, err)
	err = second.Recv(nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	second.Close()
	cancel()
	assert.ErrorIs(t, <-ended, context.Canceled)
	err = st.Recv(nil)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
	st.Close()

	// The server's deadline: both sides see DeadlineExceeded.
	dctx, dcancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer dcancel()
	st, recv := openStarted(t, p, dctx, "Feed.Block", started)
	assert.ErrorIs(t, <-ended, context.DeadlineExceeded)
	err = <-recv
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))
	st.Close()

	// The client closes: the server's stream fails, not hangs.
	st, recv = openStarted(t, p, t.Context(), "Feed.Block", started)
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-ended, context.Canceled)
	assert.Error(t, <-recv)
	st.Close()
}

// openStarted opens a stream to method until its handler starts: the
// handler that ran before may still hold the client's one call slot for a
// moment after its stream ended, and a stream opened then is refused, not
// executed.
//
// It returns the stream and the result of its first Recv, which a
// goroutine waits for.
func openStarted(t *testing.T, p *server.Peer, ctx context.Context, method string, started <-chan struct{}) (ferry.ClientStream, <-chan error) {
	t.Helper()
	for range 100 {
		st, err := p.NewStream(ctx, method)
		require.NoError(t, err)
		recv := make(chan error, 1)
		go func() { recv <- st.Recv(nil) }()
		select {
		case <-started:
			return st, recv
		case err := <-recv:
			st.Close()
			require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
			require.True(t, ferry.NotExecuted(err))
		}
	}
	t.Fatal("no stream started in 100 attempts")
	return nil, nil
}

// Stream interceptors apply to server-opened streams on both sides.
func TestServerOpenedStreamInterceptors(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	note := func(s string) {
		mu.Lock()
		seen = append(seen, s)
		mu.Unlock()
	}
	s, peers := peerServer(t, server.WithStreamClientInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		note("server opens " + info.Method + " " + info.Kind.String())
		return next(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"who": "server"}), info)
	}))
	c := dialPipe(t, s, client.WithStreamServerInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		note("client serves " + info.Method + " " + info.Kind.String() + " who=" + ferry.IncomingMetadata(ctx)["who"])
		if info.Method == "Feed.Sum" {
			return nil, errors.New("sums are private")
		}
		return next(ctx, st)
	}))
	clientFeeds(t, c)
	p := <-peers

	rd, err := client.OpenServerStream[num, num](t.Context(), p, "Feed.Live", &num{1})
	require.NoError(t, err)
	_, err = rd.Recv()
	require.NoError(t, err)
	_, err = rd.Recv()
	require.ErrorIs(t, err, io.EOF)

	w, err := client.OpenClientStream[num, num](t.Context(), p, "Feed.Sum")
	require.NoError(t, err)
	_, err = w.CloseAndRecv()
	assert.Equal(t, ferry.CodeUnknown, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.Contains(t, err.Error(), "sums are private")

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"server opens Feed.Live server", "client serves Feed.Live server who=server",
		"server opens Feed.Sum client", "client serves Feed.Sum client who=server",
	}, seen)
}
