package e2e_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview15DepthPeerModeReply: a client's reply to its server's call
// keeps to the server's smaller MaxDepth, which the hello's answer told:
// one nested past it is replaced by resource_exhausted (the handler ran),
// and the connection stays up; one within it arrives.
func TestVreview15DepthPeerModeReply(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			seen := make(chan error, 1)
			s := server.New(server.WithConfig(depthCfg(depthSmall)))
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			require.NoError(t, server.Handle(s, "Depth.CallBack", func(ctx context.Context, n *int) (*int, error) {
				var got any
				seen <- server.PeerFromContext(ctx).Call(ctx, "C.Make", *n, &got)
				return n, nil
			}))
			c := tr.dial(t, s, client.WithHandlers(func(c *client.Client) error {
				return client.Handle(c, "C.Make", func(_ context.Context, n *int) (*any, error) {
					v := nestedValue(*n)
					return &v, nil
				})
			}))
			for _, n := range []int{depthSmall - 1, depthSmall, 62} {
				var echoed int
				require.NoError(t, c.Call(t.Context(), "Depth.CallBack", n, &echoed))
				err := <-seen
				if n <= depthSmall-1 {
					require.NoError(t, err, "%d levels", n)
				} else {
					require.Error(t, err, "%d levels", n)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
					assert.False(t, ferry.NotExecuted(err), "the handler ran: %v", err)
				}
				v17Up(t, c)
			}
		})
	}
}

// TestVreview15DepthFirstStreamMessage: the first message of a stream,
// framed apart from the others, is checked against the peer's MaxDepth
// too: Send refuses it (resource_exhausted) and the stream goes on.
func TestVreview15DepthFirstStreamMessage(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := server.New(server.WithConfig(depthCfg(depthSmall)))
			t.Cleanup(func() { s.Close() })
			registerDepthCount(t, s)
			c := tr.dial(t, s)
			w, err := client.OpenClientStream[any, int](t.Context(), c, "Depth.Count")
			require.NoError(t, err)
			defer w.Close()
			deep := nestedValue(depthSmall)
			err = w.Send(&deep)
			require.Error(t, err)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
			fits := nestedValue(depthSmall - 1)
			require.NoError(t, w.Send(&fits))
			got, err := w.CloseAndRecv()
			require.NoError(t, err, "the stream stayed usable")
			assert.Equal(t, 1, *got)
		})
	}
}

// TestVreview15DepthOlderPeerAbove64: a hello without "depth", as an
// older client sends whatever its MaxDepth, is taken as 64 by a server
// configured above it: a reply nested past 64 is replaced (CHANGELOG:
// upgrade both sides before relying on a limit above 64).
func TestVreview15DepthOlderPeerAbove64(t *testing.T) {
	v := v17Dial(t, depthServer(t, server.WithConfig(depthCfg(100))))
	v.hello(1, map[string]any{"max": 4 << 20})
	require.Empty(t, depthMake(v, 2, 63))
	assert.Contains(t, depthMake(v, 3, 64), "the 64 levels the peer's messages may have")
}

// TestVreview15DepthFour: a side at the least MaxDepth, 4, still dials,
// calls with metadata, gets errors with details and runs streams,
// whichever side it is: the hello, its answer, error replies (their
// details nest 3 levels) and stream statuses fit.
func TestVreview15DepthFour(t *testing.T) {
	for _, small := range []string{"client", "server"} {
		t.Run(small, func(t *testing.T) {
			var sopts []server.Option
			var copts []client.Option
			if small == "server" {
				sopts = append(sopts, server.WithConfig(depthCfg(4)))
			} else {
				copts = append(copts, client.WithConfig(depthCfg(4)))
			}
			s := server.New(sopts...)
			t.Cleanup(func() { s.Close() })
			require.NoError(t, server.Handle(s, "D.Fail", func(_ context.Context, n *int) (*int, error) {
				return nil, ferry.NewError(ferry.CodeNotFound, "no such thing").WithDetail("what", "thing")
			}))
			require.NoError(t, server.Handle(s, "D.Echo", func(_ context.Context, v *[]int) (*[]int, error) { return v, nil }))
			require.NoError(t, server.HandleServerStream(s, "D.Count", func(_ context.Context, n *int, send func(*[]int) error) error {
				for i := range *n {
					if err := send(&[]int{i}); err != nil {
						return err
					}
				}
				return ferry.NewError(ferry.CodeAborted, "done").WithDetail("k", "v")
			}))
			for _, tr := range v17Conduits {
				c := tr.dial(t, s, copts...)
				ctx := ferry.AppendOutgoingMetadata(t.Context(), "k", "v")
				var got []int
				require.NoError(t, c.Call(ctx, "D.Echo", []int{1, 2}, &got), tr.name)
				assert.Equal(t, []int{1, 2}, got)
				err := c.Call(ctx, "D.Fail", 1, new(int))
				assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(err), "%s: %v", tr.name, err)
				var fe *ferry.Error
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, "thing", fe.Details["what"], tr.name)
				n := 3
				r, err := client.OpenServerStream[int, []int](ctx, c, "D.Count", &n)
				require.NoError(t, err, tr.name)
				for i := range n {
					v, err := r.Recv()
					require.NoError(t, err, "%s: message %d", tr.name, i)
					assert.Equal(t, []int{i}, *v)
				}
				_, err = r.Recv()
				assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err), "%s: %v", tr.name, err)
				require.ErrorAs(t, err, &fe)
				assert.Equal(t, "v", fe.Details["k"], tr.name)
				r.Close()
			}
		})
	}
}

// TestVreview15DepthConnectHook: a call from the connect hook, which may
// start before the client's hello is read, waits for it and keeps to the
// client's MaxDepth: nested past it, it fails at the server, not
// executed; within it, it runs.
func TestVreview15DepthConnectHook(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			var ran atomic.Int64
			seen := make(chan [2]error, 1)
			s := server.New(server.WithConnHooks(func(p *server.Peer) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				var got int
				deep := p.Call(ctx, "C.Take", nestedValue(depthSmall-1), &got)
				fits := p.Call(ctx, "C.Take", nestedValue(depthSmall-2), &got)
				seen <- [2]error{deep, fits}
			}, nil))
			t.Cleanup(func() { s.Close() })
			newV17Svc().register(t, s)
			c := tr.dial(t, s, client.WithConfig(depthCfg(depthSmall)), client.WithHandlers(func(c *client.Client) error {
				return client.Handle(c, "C.Take", func(_ context.Context, _ *any) (*int, error) {
					ran.Add(1)
					one := 1
					return &one, nil
				})
			}))
			var errs [2]error
			select {
			case errs = <-seen:
			case <-time.After(10 * time.Second):
				t.Fatal("the connect hook's calls did not end")
			}
			require.Error(t, errs[0])
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(errs[0]), "%v", errs[0])
			assert.True(t, ferry.NotExecuted(errs[0]), "%v", errs[0])
			require.NoError(t, errs[1])
			assert.EqualValues(t, 1, ran.Load())
			v17Up(t, c)
		})
	}
}

// TestVreview15DepthServerStreamRequest: a server-streaming call's request,
// its first message, nested past the server's MaxDepth fails the open
// with resource_exhausted; the handler does not run, and the connection
// and its next stream go on.
func TestVreview15DepthServerStreamRequest(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			var ran atomic.Int64
			s := server.New(server.WithConfig(depthCfg(depthSmall)))
			t.Cleanup(func() { s.Close() })
			newV17Svc().register(t, s)
			require.NoError(t, server.HandleServerStream(s, "D.Values", func(_ context.Context, _ *any, send func(*int) error) error {
				ran.Add(1)
				one := 1
				return send(&one)
			}))
			c := tr.dial(t, s)
			deep := nestedValue(depthSmall)
			_, err := client.OpenServerStream[any, int](t.Context(), c, "D.Values", &deep)
			if err == nil {
				t.Fatal("a request past the server's depth opened the stream")
			}
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
			fits := nestedValue(depthSmall - 1)
			r, err := client.OpenServerStream[any, int](t.Context(), c, "D.Values", &fits)
			require.NoError(t, err)
			got, err := r.Recv()
			require.NoError(t, err)
			assert.Equal(t, 1, *got)
			r.Close()
			assert.EqualValues(t, 1, ran.Load())
			v17Up(t, c)
		})
	}
}
