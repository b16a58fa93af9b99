package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// The two ends of a session tell each other their MaxDepth in the hello,
// as they do their MaxMessageSize (PROTOCOL.md section 4, "Message size
// limits"): each sends nothing nested deeper than the smaller limit, so
// that one message too deep for the peer fails its own call, never the
// connection every unary call shares.

// depthSmall is the smaller side's MaxDepth in these tests: an argument
// may nest depthSmall-2 levels, a result depthSmall-1.
const depthSmall = 16

// depthCfg is the default config with MaxDepth depth.
func depthCfg(depth int) transport.Config {
	cfg := transport.DefaultConfig()
	cfg.MaxDepth = depth
	return cfg
}

// nestedValue is 1 inside n arrays: a value n levels deep.
func nestedValue(n int) any {
	var v any = 1
	for range n {
		v = []any{v}
	}
	return v
}

// requireTooDeep checks err, the failure of a message n levels deep:
// resource_exhausted, flagged not executed when notExecuted, naming the
// peer's limit of depthSmall levels when peers.
func requireTooDeep(t *testing.T, err error, n int, notExecuted, peers bool) {
	t.Helper()
	t.Logf("%d levels: %v", n, err)
	require.Error(t, err, "%d levels", n)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d levels: %v", n, err)
	assert.Equal(t, notExecuted, ferry.NotExecuted(err), "%d levels: not executed? %v", n, err)
	if peers {
		assert.Contains(t, err.Error(), fmt.Sprintf("the %d levels the peer's messages may have", depthSmall))
	}
}

// registerDepth puts Depth.Take (counts its runs, returns 1) and
// Depth.Make (returns a value *n levels deep) on s, beside v's methods.
func registerDepth(t *testing.T, s *server.Server, ran *atomic.Int64) {
	t.Helper()
	require.NoError(t, server.Handle(s, "Depth.Take", func(_ context.Context, _ *any) (*int, error) {
		ran.Add(1)
		one := 1
		return &one, nil
	}))
	require.NoError(t, server.Handle(s, "Depth.Make", func(_ context.Context, n *int) (*any, error) {
		ran.Add(1)
		v := nestedValue(*n)
		return &v, nil
	}))
}

// registerDepthCount puts Depth.Count on s: a client stream that counts
// the messages it receives (at most 100).
func registerDepthCount(t *testing.T, s *server.Server) {
	t.Helper()
	require.NoError(t, server.HandleClientStream(s, "Depth.Count", func(_ context.Context, recv func() (*any, error)) (*int, error) {
		n := 0
		for range 100 {
			if _, err := recv(); errors.Is(err, io.EOF) {
				return &n, nil
			} else if err != nil {
				return nil, err
			}
			n++
		}
		return &n, nil
	}))
}

// TestDepthHelloDeepRequestOverServer: a client whose MaxDepth is above
// its server's sends no request nested past the server's: it fails at
// the caller with resource_exhausted, not executed, naming the peer's
// limit, the handler never runs, the call in flight beside it succeeds
// and the connection stays up. Before, the server rejected the request
// while reading it and closed the call stream: every call on the
// connection was lost (outcome unknown).
func TestDepthHelloDeepRequestOverServer(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := server.New(server.WithConfig(depthCfg(depthSmall)))
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			var ran atomic.Int64
			registerDepth(t, s, &ran)
			c := tr.dial(t, s) // MaxDepth 64
			for _, n := range []int{depthSmall - 2, depthSmall - 1, 40, 62} {
				before := ran.Load()
				done := v17InFlight(t, c, v)
				var got int
				err := c.Call(t.Context(), "Depth.Take", nestedValue(n), &got)
				if n <= depthSmall-2 {
					require.NoError(t, err, "%d levels", n)
					assert.Equal(t, before+1, ran.Load())
				} else {
					requireTooDeep(t, err, n, true, true)
					assert.Equal(t, before, ran.Load(), "%d levels: the handler did not run", n)
				}
				done()
				v17Up(t, c)
			}
		})
	}
}

// TestDepthHelloDeepReplyToClient: a client whose MaxDepth is below its
// server's gets no reply nested past its own: the server replaces it by
// resource_exhausted (the handler ran: not flagged), the call beside it
// succeeds and the connection stays up.
func TestDepthHelloDeepReplyToClient(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := server.New() // MaxDepth 64
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			var ran atomic.Int64
			registerDepth(t, s, &ran)
			c := tr.dial(t, s, client.WithConfig(depthCfg(depthSmall)))
			for _, n := range []int{depthSmall - 1, depthSmall, 63} {
				before := ran.Load()
				done := v17InFlight(t, c, v)
				var got any
				err := c.Call(t.Context(), "Depth.Make", n, &got)
				if n <= depthSmall-1 {
					require.NoError(t, err, "%d levels", n)
				} else {
					requireTooDeep(t, err, n, false, true)
				}
				assert.Equal(t, before+1, ran.Load(), "%d levels: the handler ran once", n)
				done()
				v17Up(t, c)
			}
		})
	}
}

// TestDepthHelloPeerMode: the server's calls to its client keep to the
// client's MaxDepth too: a request nested past it fails at the server,
// not executed, the client's handler never running, and the connection
// stays up.
func TestDepthHelloPeerMode(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			var ran atomic.Int64
			seen := make(chan error, 1)
			s := server.New()
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			require.NoError(t, server.Handle(s, "Depth.CallBack", func(ctx context.Context, n *int) (*int, error) {
				var got int
				seen <- server.PeerFromContext(ctx).Call(ctx, "C.Take", nestedValue(*n), &got)
				return n, nil
			}))
			c := tr.dial(t, s, client.WithConfig(depthCfg(depthSmall)), client.WithHandlers(func(c *client.Client) error {
				return client.Handle(c, "C.Take", func(_ context.Context, _ *any) (*int, error) {
					ran.Add(1)
					one := 1
					return &one, nil
				})
			}))
			for _, n := range []int{depthSmall - 2, depthSmall - 1, 62} {
				before := ran.Load()
				done := v17InFlight(t, c, v)
				var echoed int
				require.NoError(t, c.Call(t.Context(), "Depth.CallBack", n, &echoed))
				err := <-seen
				if n <= depthSmall-2 {
					require.NoError(t, err, "%d levels", n)
					assert.Equal(t, before+1, ran.Load())
				} else {
					requireTooDeep(t, err, n, true, false)
					assert.Equal(t, before, ran.Load(), "the client's handler did not run")
				}
				done()
				v17Up(t, c)
			}
		})
	}
}

// depthServer serves Depth.* with opts on loopback TCP and returns its
// address.
func depthServer(t *testing.T, opts ...server.Option) string {
	t.Helper()
	s := server.New(opts...)
	t.Cleanup(func() { s.Close() })
	var ran atomic.Int64
	registerDepth(t, s, &ran)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	return l.Addr().String()
}

// depthMake calls Depth.Make for a value n levels deep and returns the
// reply's error message ("" on success).
func depthMake(v *v17Raw, id uint32, n int) string {
	v.t.Helper()
	_, msg := v.do(id, "Depth.Make", n)
	return msg
}

// TestDepthHelloRaw: a hello written by hand. A "depth" that is absent
// (a client at the default), or not a positive integer, means the
// default, 64; one above the server's own changes nothing; one below 4
// (the least a side can be configured with) is taken as 4. A smaller
// depth bounds the replies: one nested past it is replaced by
// resource_exhausted, and the connection goes on. A later hello never
// raises it. The server's answer leaves "depth" out at the default and
// says it otherwise.
func TestDepthHelloRaw(t *testing.T) {
	addr := depthServer(t)
	for _, tc := range []struct {
		name  string
		hello map[string]any
		limit int // the depth the server keeps to
	}{
		{"absent", map[string]any{}, 64},
		{"0", map[string]any{"depth": 0}, 64},
		{"str", map[string]any{"depth": "16"}, 64},
		{"negative", map[string]any{"depth": -16}, 64},
		{"float", map[string]any{"depth": 16.0}, 64},
		{"2^64-1", map[string]any{"depth": uint64(math.MaxUint64)}, 64},
		{"above the server's own", map[string]any{"depth": 1000}, 64},
		{"1, taken as 4", map[string]any{"depth": 1}, 4},
		{"16", map[string]any{"depth": 16}, 16},
		{"63", map[string]any{"depth": 63}, 63},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := v17Dial(t, addr)
			answer := v.hello(1, tc.hello)
			assert.NotContains(t, answer, "depth", "a server at the default leaves it out: %v", answer)
			require.Empty(t, depthMake(v, 2, tc.limit-1), "a result may nest one level less than the limit")
			msg := depthMake(v, 3, tc.limit)
			if tc.limit == 64 {
				// Past the server's own limit, as it was before "depth".
				assert.Contains(t, msg, "the 64 levels a message may have")
			} else {
				assert.Contains(t, msg, fmt.Sprintf("the %d levels the peer's messages may have", tc.limit))
			}
			require.Empty(t, depthMake(v, 4, 1), "the connection goes on")
		})
	}
	t.Run("a later hello only lowers it", func(t *testing.T) {
		v := v17Dial(t, addr)
		v.hello(1, map[string]any{"depth": 16})
		assert.Contains(t, depthMake(v, 2, 16), "the 16 levels the peer's")
		v.hello(3, map[string]any{"depth": 1000})
		assert.Contains(t, depthMake(v, 4, 16), "the 16 levels the peer's", "a later hello does not raise it")
		v.hello(5, map[string]any{})
		assert.Contains(t, depthMake(v, 6, 16), "the 16 levels the peer's", "nor does one at the default")
		v.hello(7, map[string]any{"depth": 8})
		assert.Contains(t, depthMake(v, 8, 8), "the 8 levels the peer's", "a later hello lowers it")
	})
	t.Run("the answer of a server off the default", func(t *testing.T) {
		v := v17Dial(t, depthServer(t, server.WithConfig(depthCfg(depthSmall))))
		answer := v.hello(1, map[string]any{})
		d, ok := toUint(answer["depth"])
		require.True(t, ok, "%v", answer)
		assert.Equal(t, uint64(depthSmall), d)
	})
}

// TestDepthHelloStreamMessages: a streaming message nested past the
// smaller MaxDepth is refused by its sender's Send (resource_exhausted;
// the stream stays usable), as one past the smaller size limit is
// (PROTOCOL.md 6, "Size"), and a handler's result nested past it is
// replaced by a resource_exhausted status. Before, it went out and the
// receiver ended the call.
func TestDepthHelloStreamMessages(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("client sends past the server's depth", func(t *testing.T) {
				s := server.New(server.WithConfig(depthCfg(depthSmall)))
				t.Cleanup(func() { s.Close() })
				registerDepthCount(t, s)
				c := tr.dial(t, s)
				w, err := client.OpenClientStream[any, int](t.Context(), c, "Depth.Count")
				require.NoError(t, err)
				defer w.Close()
				sent := 0
				for _, n := range []int{1, depthSmall - 1, depthSmall, 62, depthSmall - 1} {
					v := nestedValue(n)
					err := w.Send(&v)
					if n <= depthSmall-1 { // the frame's array is the first level
						require.NoError(t, err, "%d levels", n)
						sent++
						continue
					}
					t.Logf("%d levels: %v", n, err)
					require.Error(t, err, "%d levels", n)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d levels: %v", n, err)
					assert.Contains(t, err.Error(), fmt.Sprintf("the %d levels the peer's messages may have", depthSmall))
				}
				got, err := w.CloseAndRecv()
				require.NoError(t, err, "the stream stayed usable")
				assert.Equal(t, sent, *got)
			})
			t.Run("server sends past the client's depth", func(t *testing.T) {
				sendErrs := make(chan error, 8)
				s := server.New()
				t.Cleanup(func() { s.Close() })
				newV17Svc().register(t, s)
				levels := []int{1, depthSmall - 1, depthSmall, 62, 2}
				require.NoError(t, server.HandleServerStream(s, "Depth.Values", func(_ context.Context, _ *int, send func(*any) error) error {
					for _, n := range levels {
						v := nestedValue(n)
						sendErrs <- send(&v)
					}
					return nil
				}))
				require.NoError(t, server.HandleClientStream(s, "Depth.Result", func(_ context.Context, recv func() (*int, error)) (*any, error) {
					n, err := recv()
					if err != nil {
						return nil, err
					}
					v := nestedValue(*n)
					return &v, nil
				}))
				c := tr.dial(t, s, client.WithConfig(depthCfg(depthSmall)))
				r, err := client.OpenServerStream[int, any](t.Context(), c, "Depth.Values", new(int))
				require.NoError(t, err)
				defer r.Close()
				received := 0
				for {
					_, err := r.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					require.NoError(t, err)
					received++
				}
				assert.Equal(t, 3, received, "the messages within the client's depth")
				for _, n := range levels {
					err := <-sendErrs
					if n <= depthSmall-1 {
						assert.NoError(t, err, "%d levels", n)
						continue
					}
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d levels: %v", n, err)
				}
				// A handler's result: replaced past the client's depth.
				for _, n := range []int{depthSmall - 1, depthSmall} {
					w, err := client.OpenClientStream[int, any](t.Context(), c, "Depth.Result")
					require.NoError(t, err)
					require.NoError(t, w.Send(&n))
					_, err = w.CloseAndRecv()
					w.Close()
					if n <= depthSmall-1 {
						require.NoError(t, err, "%d levels", n)
						continue
					}
					t.Logf("%d levels: %v", n, err)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d levels: %v", n, err)
					assert.Contains(t, err.Error(), fmt.Sprintf("the result nests deeper than the %d levels the peer's messages may have", depthSmall))
				}
				v17Up(t, c)
			})
		})
	}
}

// TestDepthHelloBare: a bare MessagePack-RPC client that says hello
// (PROTOCOL.md 4: "a bare client that says hello has its "max" taken the
// same way") has its "depth" taken the same way: replies nested past it
// are replaced by resource_exhausted, and the connection goes on.
func TestDepthHelloBare(t *testing.T) {
	addr := depthServer(t)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	dec := msgpack.NewDecoder(bufio.NewReader(conn))
	call := func(id uint32, method string, params []any) []any {
		_, err := conn.Write(request(id, method, params, map[string]any{}))
		require.NoError(t, err)
		var m []any
		require.NoError(t, dec.Decode(&m))
		require.GreaterOrEqual(t, len(m), 4, "%v", m)
		return m
	}
	a := call(1, "$ferry.hello", []any{map[string]any{"depth": 8}})
	require.Nil(t, a[2], "the hello's answer: %v", a)
	assert.Nil(t, call(2, "Depth.Make", []any{7})[2], "7 levels fit under 8")
	m := call(3, "Depth.Make", []any{8})
	msg, _ := m[2].(string)
	assert.Contains(t, msg, "the 8 levels the peer's messages may have", "%v", m[2])
	assert.Nil(t, call(4, "Depth.Make", []any{1})[2], "the connection goes on")
}
