package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Streaming and unary methods share one table: one name, one kind, the
// same name checks.
func TestStreamMethodTable(t *testing.T) {
	s := newServer(t)
	echo := func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }
	require.NoError(t, s.HandleStream("Feed.Watch", server.ServerStream, echo))

	err := s.HandleStream("Arith.Add", server.Bidi, echo) // a unary method's name
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already registered (as a unary method)")
	err = server.Handle(s, "Feed.Watch", func(ctx context.Context, a *int) (*int, error) { return a, nil })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "already registered (as a server method)")
	for _, bad := range []string{"", "$ferry.x", "Feed.With space", "Feed.\x01"} {
		assert.Error(t, s.HandleStream(bad, server.Bidi, echo), "%q", bad)
	}
	assert.Error(t, s.HandleStream("Feed.Kindless", 0, echo))
	assert.Error(t, s.HandleStream("Feed.Nil", server.Bidi, nil))

	kinds := map[string]string{}
	for _, m := range s.Methods() {
		kinds[m.Name] = m.Kind
	}
	assert.Equal(t, "server", kinds["Feed.Watch"])
	assert.Equal(t, "unary", kinds["Arith.Add"])

	// Each kind called the other way is refused as unimplemented, as an
	// unknown method is.
	c := dialPipe(t, s)
	err = c.Call(t.Context(), "Feed.Watch", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.Contains(t, err.Error(), "open a stream")
	st, err := c.NewStream(t.Context(), "Arith.Add")
	require.NoError(t, err)
	defer st.Close()
	err = st.Recv(nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.Contains(t, err.Error(), "unary method")
}

// countingServerStream counts and transforms the messages of a stream it
// wraps: each received num is incremented by add.
type countingServerStream struct {
	ferry.ServerStream
	add        int
	sent, recv *atomic.Int64
}

func (w *countingServerStream) Send(m any) error {
	w.sent.Add(1)
	return w.ServerStream.Send(m)
}

func (w *countingServerStream) Recv(m any) error {
	err := w.ServerStream.Recv(m)
	if err == nil {
		w.recv.Add(1)
		if n, ok := m.(*num); ok {
			n.N += w.add
		}
	}
	return err
}

type countingClientStream struct {
	ferry.ClientStream
	sent, recv *atomic.Int64
}

func (w *countingClientStream) Send(m any) error {
	w.sent.Add(1)
	return w.ClientStream.Send(m)
}

func (w *countingClientStream) Recv(m any) error {
	err := w.ClientStream.Recv(m)
	if err == nil {
		w.recv.Add(1)
	}
	return err
}

func TestStreamInterceptors(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	var srvSent, srvRecv, cliSent, cliRecv atomic.Int64
	outer := func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		md := ferry.IncomingMetadata(ctx)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("server %s %s user=%s", info.Method, info.Kind, md["user"]))
		mu.Unlock()
		if md["user"] == "mallory" {
			return nil, ferry.NewError(ferry.CodePermissionDenied, "no streams for mallory")
		}
		return next(ctx, &countingServerStream{ServerStream: st, add: 1000, sent: &srvSent, recv: &srvRecv})
	}
	inner := func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		mu.Lock()
		seen = append(seen, "server inner")
		mu.Unlock()
		return next(ctx, st)
	}
	s := streamServer(t, server.WithStreamInterceptors(outer, inner))
	cic := func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("client %s %s", info.Method, info.Kind))
		mu.Unlock()
		if info.Method == "Num.Forbidden" {
			return nil, errors.New("refused locally")
		}
		md := ferry.Metadata{}
		for k, v := range ferry.OutgoingMetadata(ctx) {
			md[k] = v
		}
		if md["user"] == "" {
			md["user"] = "alice"
		}
		cs, err := next(ferry.WithOutgoingMetadata(ctx, md), info)
		if err != nil {
			return nil, err
		}
		return &countingClientStream{ClientStream: cs, sent: &cliSent, recv: &cliRecv}, nil
	}
	for _, tr := range conduits[:2] {
		t.Run(tr.name, func(t *testing.T) {
			seen = nil
			srvSent.Store(0)
			srvRecv.Store(0)
			cliSent.Store(0)
			cliRecv.Store(0)
			c := tr.dial(t, s, client.WithStreamInterceptors(cic))
			ctx := t.Context()

			bidi, err := client.OpenBidi[num, num](ctx, c, "Num.Double")
			require.NoError(t, err)
			for i := range 3 {
				require.NoError(t, bidi.Send(&num{i}))
				m, err := bidi.Recv()
				require.NoError(t, err)
				assert.Equal(t, 2*(i+1000), m.N, "the server's wrapper transformed the message")
			}
			require.NoError(t, bidi.CloseSend())
			_, err = bidi.Recv()
			require.ErrorIs(t, err, io.EOF)
			assert.Equal(t, int64(3), srvRecv.Load())
			assert.Equal(t, int64(3), srvSent.Load())
			assert.Equal(t, int64(3), cliSent.Load())
			assert.Equal(t, int64(3), cliRecv.Load())

			sum, err := client.OpenClientStream[num, num](ctx, c, "Num.Sum")
			require.NoError(t, err)
			require.NoError(t, sum.Send(&num{1}))
			res, err := sum.CloseAndRecv()
			require.NoError(t, err)
			assert.Equal(t, 1001, res.N)

			mu.Lock()
			assert.Equal(t, []string{
				"client Num.Double bidi", "server Num.Double bidi user=alice", "server inner",
				"client Num.Sum client", "server Num.Sum client user=alice", "server inner",
			}, seen)
			mu.Unlock()

			// A refusal on the server: its code, not executed, and the
			// handler never ran (no inner interceptor).
			mu.Lock()
			seen = nil
			mu.Unlock()
			mctx := ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"user": "mallory"})
			rd, err := client.OpenServerStream[num, num](mctx, c, "Num.Count", &num{3})
			require.NoError(t, err)
			_, err = rd.Recv()
			assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
			assert.True(t, ferry.NotExecuted(err), "%v", err)
			assert.Contains(t, err.Error(), "no streams for mallory")
			rd.Close()
			mu.Lock()
			assert.Equal(t, []string{"client Num.Count server", "server Num.Count server user=mallory"}, seen)
			mu.Unlock()

			// A refusal on the client: never sent, not executed.
			_, err = c.NewStream(ctx, "Num.Forbidden")
			require.Error(t, err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)
			assert.Contains(t, err.Error(), "refused locally")
		})
	}
}

func TestChainStream(t *testing.T) {
	var order []string
	mk := func(name string) ferry.StreamServerInterceptor {
		return func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
			order = append(order, name)
			return next(ctx, st)
		}
	}
	assert.Nil(t, ferry.ChainStreamServer())
	assert.Nil(t, ferry.ChainStreamClient())
	ic := ferry.ChainStreamServer(mk("a"), mk("b"), mk("c"))
	res, err := ic(t.Context(), &ferry.StreamInfo{}, nil, func(context.Context, ferry.ServerStream) (any, error) {
		order = append(order, "handler")
		return 7, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 7, res)
	assert.Equal(t, []string{"a", "b", "c", "handler"}, order)

	order = nil
	mkc := func(name string) ferry.StreamClientInterceptor {
		return func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			order = append(order, name)
			return next(ctx, info)
		}
	}
	_, err = ferry.ChainStreamClient(mkc("a"), mkc("b"))(t.Context(), &ferry.StreamInfo{Method: "X.Y"}, func(ctx context.Context, info *ferry.StreamInfo) (ferry.ClientStream, error) {
		order = append(order, "open "+info.Method)
		return nil, errors.New("x")
	})
	require.Error(t, err)
	assert.Equal(t, []string{"a", "b", "open X.Y"}, order)
}
