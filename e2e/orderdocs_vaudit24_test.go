package e2e_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v24Trail records interceptors' names in the order they ran.
type v24Trail struct {
	mu  sync.Mutex
	got []string
}

func (tr *v24Trail) add(s string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, s)
}

func (tr *v24Trail) take() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := strings.Join(tr.got, " ")
	tr.got = nil
	return s
}

func (tr *v24Trail) unary(name string) ferry.ServerInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		tr.add(name)
		return next(ctx, args)
	}
}

func (tr *v24Trail) client(name string) ferry.ClientInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		tr.add(name)
		return next(ctx, info, args, reply)
	}
}

func (tr *v24Trail) stream(name string) ferry.StreamServerInterceptor {
	return func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		tr.add(name)
		return next(ctx, st)
	}
}

func (tr *v24Trail) streamClient(name string) ferry.StreamClientInterceptor {
	return func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		tr.add(name)
		return next(ctx, info)
	}
}

// TestVaudit24InterceptorOrder: every interceptor option appends, the
// first outermost, in both directions, for calls and streams.
func TestVaudit24InterceptorOrder(t *testing.T) {
	tr := &v24Trail{}
	s := newServer(t,
		server.WithInterceptors(tr.unary("s1")), server.WithInterceptors(tr.unary("s2"), tr.unary("s3")),
		server.WithStreamInterceptors(tr.stream("ss1")), server.WithStreamInterceptors(tr.stream("ss2")),
		server.WithClientInterceptors(tr.client("sc1")), server.WithClientInterceptors(tr.client("sc2")),
		server.WithStreamClientInterceptors(tr.streamClient("ssc1")), server.WithStreamClientInterceptors(tr.streamClient("ssc2")),
	)
	require.NoError(t, s.HandleStream("S.Done", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }))
	require.NoError(t, server.Handle(s, "B.Back", func(ctx context.Context, _ *struct{}) (*bool, error) {
		p := server.PeerFromContext(ctx)
		if err := p.Call(ctx, "C.Unary", nil, nil); err != nil {
			return nil, err
		}
		st, err := p.NewStream(ctx, "C.Stream")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		if err := st.Recv(nil); err != io.EOF {
			return nil, err
		}
		return nil, nil
	}))
	c := dialTCP(t, s,
		client.WithInterceptors(tr.client("c1")), client.WithInterceptors(tr.client("c2")),
		client.WithStreamInterceptors(tr.streamClient("cs1"), tr.streamClient("cs2")),
		client.WithServerInterceptors(tr.unary("cu1")), client.WithServerInterceptors(tr.unary("cu2")),
		client.WithStreamServerInterceptors(tr.stream("css1")), client.WithStreamServerInterceptors(tr.stream("css2")),
		client.WithHandlers(func(c *client.Client) error {
			if err := client.Handle(c, "C.Unary", func(ctx context.Context, _ *struct{}) (*bool, error) { return nil, nil }); err != nil {
				return err
			}
			return c.HandleStream("C.Stream", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) { return nil, nil })
		}))
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", 1, nil))
	assert.Equal(t, "c1 c2 s1 s2 s3", tr.take())
	st, err := c.NewStream(t.Context(), "S.Done")
	require.NoError(t, err)
	require.Equal(t, io.EOF, st.Recv(nil))
	st.Close()
	assert.Equal(t, "cs1 cs2 ss1 ss2", tr.take())
	require.NoError(t, c.Call(t.Context(), "B.Back", nil, nil))
	assert.Equal(t, "c1 c2 s1 s2 s3 sc1 sc2 cu1 cu2 ssc1 ssc2 css1 css2", tr.take())
}

// TestVaudit24NotifyBothWays: Notify reaches a handler (server to client
// too, through Peer.Notify), with its metadata and CallInfo.Notify, and
// returns no error for a handler that fails; a canceled ctx sends
// nothing.
func TestVaudit24NotifyBothWays(t *testing.T) {
	got := make(chan string, 4)
	s := newServer(t)
	require.NoError(t, server.Handle(s, "N.Hit", func(ctx context.Context, x *string) (*bool, error) {
		md, _ := ferry.IncomingMetadataValue(ctx, "k")
		got <- "server " + *x + " " + md
		if err := server.PeerFromContext(ctx).Notify(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"k": "back"}), "C.Hit", "pong"); err != nil {
			got <- err.Error()
		}
		return nil, ferry.NewError(ferry.CodeInternal, "ignored")
	}))
	c := dialTCP(t, s, client.WithHandlers(func(c *client.Client) error {
		return client.Handle(c, "C.Hit", func(ctx context.Context, x *string) (*bool, error) {
			md, _ := ferry.IncomingMetadataValue(ctx, "k")
			got <- "client " + *x + " " + md
			return nil, nil
		})
	}))
	require.NoError(t, c.Notify(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"k": "v"}), "N.Hit", "ping"))
	for _, want := range []string{"server ping v", "client pong back"} {
		select {
		case g := <-got:
			assert.Equal(t, want, g)
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", want)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Notify(ctx, "N.Hit", "never")
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	err = c.Call(ctx, "N.Hit", "never", nil)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	_, err = c.NewStream(ctx, "N.Hit")
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", 1, nil))
	select {
	case g := <-got:
		t.Fatalf("a notification with a canceled ctx ran: %s", g)
	default:
	}
}
