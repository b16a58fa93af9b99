package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v24CountingServerStream counts the messages that pass through it.
type v24CountingServerStream struct {
	ferry.ServerStream
	sent, recvd *atomic.Int64
}

func (s v24CountingServerStream) Send(m any) error { s.sent.Add(1); return s.ServerStream.Send(m) }
func (s v24CountingServerStream) Recv(m any) error {
	err := s.ServerStream.Recv(m)
	if err == nil {
		s.recvd.Add(1)
	}
	return err
}

// v24CountingClientStream counts the messages that pass through it.
type v24CountingClientStream struct {
	ferry.ClientStream
	sent, recvd *atomic.Int64
}

func (s v24CountingClientStream) Send(m any) error { s.sent.Add(1); return s.ClientStream.Send(m) }
func (s v24CountingClientStream) Recv(m any) error {
	err := s.ClientStream.Recv(m)
	if err == nil {
		s.recvd.Add(1)
	}
	return err
}

// TestVaudit24StreamInterceptorsSeeEverything: stream interceptors on
// both sides see the method, the kind (registered on the serving side,
// opened on the calling side), the metadata (which the client's may
// extend for next), Ferry's own stream as a ferry.WireCounter, and every
// message through their wrappers.
func TestVaudit24StreamInterceptorsSeeEverything(t *testing.T) {
	var srvSent, srvRecvd, cliSent, cliRecvd atomic.Int64
	var mu sync.Mutex
	var seen []string
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf(format, args...))
	}
	srvIC := func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		_, wc := st.(ferry.WireCounter)
		v, _ := ferry.IncomingMetadataValue(ctx, "added")
		note("server %s %s added=%s wire=%v", info.Method, info.Kind, v, wc)
		return next(ctx, v24CountingServerStream{st, &srvSent, &srvRecvd})
	}
	cliIC := func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		cs, err := next(ferry.AppendOutgoingMetadata(ctx, "added", "yes"), info)
		if err != nil {
			return nil, err
		}
		_, wc := cs.(ferry.WireCounter)
		note("client %s %s wire=%v", info.Method, info.Kind, wc)
		return v24CountingClientStream{cs, &cliSent, &cliRecvd}, nil
	}
	s := v24Server(t, server.WithStreamInterceptors(srvIC))
	require.NoError(t, server.HandleServerStream(s, "T.Count", func(ctx context.Context, req *int, send func(*int) error) error {
		for i := 1; i <= *req; i++ {
			if err := send(&i); err != nil {
				return err
			}
		}
		return nil
	}))
	c := dialTCP(t, s, client.WithStreamInterceptors(cliIC))
	ctx := t.Context()

	st, err := c.NewStream(ctx, "S.Echo")
	require.NoError(t, err)
	for i := range 5 {
		require.NoError(t, st.Send(i))
		require.NoError(t, st.Recv(new(int)))
	}
	require.NoError(t, st.CloseSend())
	require.Equal(t, io.EOF, st.Recv(new(int)))
	require.NoError(t, st.Close())

	three := 3
	r, err := client.OpenServerStream[int, int](ctx, c, "T.Count", &three)
	require.NoError(t, err)
	for range 3 {
		_, err := r.Recv()
		require.NoError(t, err)
	}
	_, err = r.Recv()
	require.Equal(t, io.EOF, err)
	require.NoError(t, r.Close())

	assert.Equal(t, int64(5+1), cliSent.Load(), "every message the caller sent")
	assert.Equal(t, int64(5+3), cliRecvd.Load(), "every message the caller received")
	require.Eventually(t, func() bool { return srvSent.Load() == 5+3 && srvRecvd.Load() == 5+1 }, 5*time.Second, 5*time.Millisecond,
		"server sent %d received %d", srvSent.Load(), srvRecvd.Load())
	mu.Lock()
	defer mu.Unlock()
	assert.ElementsMatch(t, []string{
		"client S.Echo bidi wire=true", "server S.Echo bidi added=yes wire=true",
		"client T.Count server wire=true", "server T.Count server added=yes wire=true",
	}, seen)
}

// TestVaudit24StreamRefusals: a stream interceptor's refusal, on each
// side, and the client interceptor's error after next.
func TestVaudit24StreamRefusals(t *testing.T) {
	t.Run("server interceptor refuses", func(t *testing.T) {
		s := v24Server(t, server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
			return nil, ferry.NewError(ferry.CodePermissionDenied, "no")
		}))
		c := dialTCP(t, s)
		st, err := c.NewStream(t.Context(), "S.Echo")
		if err == nil {
			defer st.Close()
			err = st.Recv(new(int))
		}
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%v", err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
	})
	t.Run("client interceptor refuses without next", func(t *testing.T) {
		var opened atomic.Int64
		s := v24Server(t, server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
			opened.Add(1)
			return next(ctx, st)
		}))
		c := dialTCP(t, s, client.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			return nil, errors.New("local policy")
		}))
		_, err := c.NewStream(t.Context(), "S.Echo")
		require.Error(t, err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		_, err = client.OpenBidi[int, int](t.Context(), c, "S.Echo")
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		assert.Zero(t, opened.Load())
	})
	t.Run("client interceptor fails after next", func(t *testing.T) {
		handlerEnded := make(chan error, 1)
		s := newServer(t)
		require.NoError(t, s.HandleStream("S.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			<-ctx.Done()
			handlerEnded <- ctx.Err()
			return nil, nil
		}))
		for _, ret := range []string{"error", "nil stream"} {
			c := dialTCP(t, s, client.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
				cs, err := next(ctx, info)
				if err != nil {
					return nil, err
				}
				if ret == "error" {
					return cs, ferry.NewError(ferry.CodeAborted, "changed my mind")
				}
				return nil, nil
			}))
			_, err := c.NewStream(t.Context(), "S.Wait")
			require.Error(t, err, ret)
			assert.False(t, ferry.NotExecuted(err), "%s: %v", ret, err)
			if ret == "error" {
				assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err))
			}
			select {
			case err := <-handlerEnded:
				assert.ErrorIs(t, err, context.Canceled, ret)
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: the stream was not closed: its handler still runs", ret)
			}
		}
	})
}

// TestVaudit24CallInfoAndMetadata: CallInfo's Notify and Received on each
// side, and metadata in both directions (a handler calling its client
// back), not forwarded unless copied.
func TestVaudit24CallInfoAndMetadata(t *testing.T) {
	type sight struct {
		side     string
		method   string
		notify   bool
		received bool
		md       string
	}
	sights := make(chan sight, 16)
	srvIC := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		v, _ := ferry.IncomingMetadataValue(ctx, "k")
		sights <- sight{"server", info.Method, info.Notify, !info.Received.IsZero(), v}
		return next(ctx, args)
	}
	cliIC := func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		sights <- sight{"client", info.Method, info.Notify, !info.Received.IsZero(), ferry.OutgoingMetadata(ctx)["k"]}
		return next(ctx, info, args, reply)
	}
	s := newServer(t, server.WithInterceptors(srvIC))
	require.NoError(t, server.Handle(s, "B.Back", func(ctx context.Context, _ *struct{}) (*string, error) {
		p := server.PeerFromContext(ctx)
		var plain, copied string
		if err := p.Call(ctx, "C.Md", nil, &plain); err != nil {
			return nil, err
		}
		if err := p.Call(ferry.WithOutgoingMetadata(ctx, ferry.IncomingMetadata(ctx)), "C.Md", nil, &copied); err != nil {
			return nil, err
		}
		out := plain + "|" + copied
		return &out, nil
	}))
	c := dialTCP(t, s, client.WithInterceptors(cliIC), client.WithHandlers(func(c *client.Client) error {
		return client.Handle(c, "C.Md", func(ctx context.Context, _ *struct{}) (*string, error) {
			v := ferry.IncomingMetadata(ctx)["k"]
			return &v, nil
		})
	}))
	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"k": "v"})
	var out string
	require.NoError(t, c.Call(ctx, "B.Back", nil, &out))
	assert.Equal(t, "|v", out, "incoming metadata is not forwarded; copied, it is")
	assert.Equal(t, sight{"client", "B.Back", false, false, "v"}, <-sights)
	assert.Equal(t, sight{"server", "B.Back", false, true, "v"}, <-sights)

	require.NoError(t, c.Notify(ctx, "Echo.Echo", 1))
	assert.Equal(t, sight{"client", "Echo.Echo", true, false, "v"}, <-sights)
	assert.Equal(t, sight{"server", "Echo.Echo", true, true, "v"}, <-sights)
}

// TestVaudit24MetadataBounds: "A call carries at most 1,024 pairs and
// 64 KiB of them (encoded); a Ferry server refuses more with
// CodeInvalidArgument, and the handler does not run (NotExecuted)."
func TestVaudit24MetadataBounds(t *testing.T) {
	s := v24Server(t)
	c := dialTCP(t, s)
	pairs := func(n int) ferry.Metadata {
		md := ferry.Metadata{}
		for i := range n {
			md[fmt.Sprintf("k%d", i)] = "v"
		}
		return md
	}
	ok := ferry.WithOutgoingMetadata(t.Context(), pairs(1024))
	require.NoError(t, c.Call(ok, "Echo.Echo", 1, nil), "1,024 pairs")
	for name, md := range map[string]ferry.Metadata{
		"1,025 pairs": pairs(1025),
		"65 KiB":      {"big": strings.Repeat("x", 65<<10)},
	} {
		ctx := ferry.WithOutgoingMetadata(t.Context(), md)
		err := c.Call(ctx, "Echo.Echo", 1, nil)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)

		st, err := c.NewStream(ctx, "S.Echo")
		if err == nil {
			err = st.Recv(new(int))
			st.Close()
		}
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s, a stream: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s, a stream: %v", name, err)
	}
}
