package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The two ends of a session tell each other their MaxMessageSize in the
// hello (PROTOCOL.md sections 4 and 5): each sends at most the smaller
// limit, so that one message too large for the peer fails its own call,
// never the connection every unary call shares.

// v17Small is the smaller side's limit in these tests.
const v17Small = 256 << 10

// v17Sizes are the payload size classes: 1 KiB, 64 KiB, just under and
// just over limit (a payload of n bytes makes a message of n plus at most
// 128 bytes of envelope), and 1 MiB, between v17Small and the default.
func v17Sizes(limit int) []int {
	return []int{1 << 10, 64 << 10, limit - 128, limit + 1, 1 << 20}
}

// v17Cfg is the default config with MaxMessageSize max.
func v17Cfg(max int) transport.Config {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = max
	return cfg
}

// v17Conduits are the session transports (a bare MessagePack-RPC
// connection says no hello: each side enforces its own limit, as before).
var v17Conduits = conduits[:2]

// v17Svc is a service that counts its runs, and a call that waits to be
// released, to be in flight beside the call that fails.
type v17Svc struct {
	ran     atomic.Int64
	started chan struct{}
	release chan struct{}
}

func newV17Svc() *v17Svc {
	return &v17Svc{started: make(chan struct{}, 1), release: make(chan struct{}, 1)}
}

// register puts the service on s: V17.Blob returns n bytes, V17.Echo
// returns the length of the bytes it got, V17.Wait waits for release.
func (v *v17Svc) register(t *testing.T, s *server.Server) {
	t.Helper()
	require.NoError(t, server.Handle(s, "V17.Blob", func(_ context.Context, n *int) (*[]byte, error) {
		v.ran.Add(1)
		b := make([]byte, *n)
		return &b, nil
	}))
	require.NoError(t, server.Handle(s, "V17.Echo", func(_ context.Context, b *[]byte) (*int, error) {
		v.ran.Add(1)
		n := len(*b)
		return &n, nil
	}))
	require.NoError(t, server.Handle(s, "V17.Wait", func(ctx context.Context, _ *int) (*string, error) {
		v.started <- struct{}{}
		select {
		case <-v.release:
			ok := "released"
			return &ok, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))
}

// v17InFlight starts V17.Wait on c and waits until its handler runs; the
// returned function releases it and checks that it succeeded.
func v17InFlight(t *testing.T, c *client.Client, v *v17Svc) func() {
	t.Helper()
	call := c.Go(t.Context(), "V17.Wait", 0, new(string))
	select {
	case <-v.started:
	case <-time.After(5 * time.Second):
		t.Fatal("V17.Wait did not start within 5 s")
	}
	return func() {
		t.Helper()
		v.release <- struct{}{}
		require.NoError(t, v14Wait(t, call), "the call in flight beside the one that failed")
		assert.Equal(t, "released", *call.Reply.(*string))
	}
}

// v17Up checks that c's connection is still up and calls.
func v17Up(t *testing.T, c *client.Client) {
	t.Helper()
	select {
	case <-c.Done():
		t.Fatalf("the connection ended: %v", c.Err())
	default:
	}
	var n int
	require.NoError(t, c.Call(t.Context(), "V17.Echo", []byte("ok"), &n))
	assert.Equal(t, 2, n)
}

// TestVlimits17SmallClientLargeReply: a client whose MaxMessageSize is
// below its server's gets a reply over its own limit: that call fails
// with resource_exhausted (the handler ran: not flagged), the call in
// flight beside it succeeds, and the connection stays up. Before, the
// server sent the reply, the client closed its call stream on it, and
// every call on the connection was lost (outcome unknown).
func TestVlimits17SmallClientLargeReply(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := server.New()
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			c := tr.dial(t, s, client.WithConfig(v17Cfg(v17Small)))
			for _, n := range v17Sizes(v17Small) {
				ran := v.ran.Load()
				done := v17InFlight(t, c, v)
				var got []byte
				err := c.Call(t.Context(), "V17.Blob", n, &got)
				if n < v17Small {
					require.NoError(t, err, "%d bytes", n)
					assert.Len(t, got, n)
				} else {
					t.Logf("%d bytes: %v", n, err)
					require.Error(t, err, "%d bytes", n)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d bytes: %v", n, err)
					assert.False(t, ferry.NotExecuted(err), "the handler ran: %v", err)
					assert.Contains(t, err.Error(), fmt.Sprintf("the peer's %d-byte message limit", v17Small))
				}
				assert.Equal(t, ran+1, v.ran.Load(), "%d bytes: the handler ran once", n)
				done()
				v17Up(t, c)
			}
		})
	}
}

// TestVlimits17LargeClientRequestOverServer: a client whose MaxMessageSize
// is above its server's sends no request over the server's limit: it
// fails at the caller with resource_exhausted, not executed, the handler
// never runs, the call in flight beside it succeeds and the connection
// stays up. Before, the server rejected the request while reading it and
// closed the call stream: every call on the connection was lost.
func TestVlimits17LargeClientRequestOverServer(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := server.New(server.WithConfig(v17Cfg(v17Small)))
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			c := tr.dial(t, s)
			for _, n := range append(v17Sizes(v17Small), 4<<20+1) {
				ran := v.ran.Load()
				done := v17InFlight(t, c, v)
				var got int
				err := c.Call(t.Context(), "V17.Echo", make([]byte, n), &got)
				if n < v17Small {
					require.NoError(t, err, "%d bytes", n)
					assert.Equal(t, n, got)
					assert.Equal(t, ran+1, v.ran.Load())
				} else {
					t.Logf("%d bytes: %v", n, err)
					require.Error(t, err, "%d bytes", n)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d bytes: %v", n, err)
					assert.True(t, ferry.NotExecuted(err), "never sent: %v", err)
					assert.Contains(t, err.Error(), fmt.Sprintf("the peer's %d-byte message limit", v17Small))
					assert.Equal(t, ran, v.ran.Load(), "%d bytes: the handler did not run", n)
				}
				done()
				v17Up(t, c)
			}
		})
	}
}

// v17PeerCall is what the server saw of its call to the client.
type v17PeerCall struct {
	n   int
	err error
}

// TestVlimits17PeerMode: the server's calls to its client keep to the
// smaller limit too, both ways. A request over the client's limit fails
// at the server, not executed, the client's handler never running; a
// reply over the server's limit is replaced by resource_exhausted at the
// client (its handler ran). The connection stays up either way.
func TestVlimits17PeerMode(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			for _, tc := range []struct {
				name         string
				server, clnt int
				method       string // the client's handler the server calls
			}{
				{"request over the client's limit", 4 << 20, v17Small, "C17.Echo"},
				{"reply over the server's limit", v17Small, 4 << 20, "C17.Blob"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var ran atomic.Int64
					seen := make(chan v17PeerCall, 1)
					s := server.New(server.WithConfig(v17Cfg(tc.server)))
					t.Cleanup(func() { s.Close() })
					v := newV17Svc()
					v.register(t, s)
					require.NoError(t, server.Handle(s, "V17.CallBack", func(ctx context.Context, n *int) (*int, error) {
						p := server.PeerFromContext(ctx)
						var err error
						if tc.method == "C17.Echo" {
							var got int
							err = p.Call(ctx, "C17.Echo", make([]byte, *n), &got)
						} else {
							var got []byte
							err = p.Call(ctx, "C17.Blob", *n, &got)
						}
						seen <- v17PeerCall{*n, err}
						return n, nil
					}))
					c := tr.dial(t, s, client.WithConfig(v17Cfg(tc.clnt)), client.WithHandlers(func(c *client.Client) error {
						if err := client.Handle(c, "C17.Echo", func(_ context.Context, b *[]byte) (*int, error) {
							ran.Add(1)
							n := len(*b)
							return &n, nil
						}); err != nil {
							return err
						}
						return client.Handle(c, "C17.Blob", func(_ context.Context, n *int) (*[]byte, error) {
							ran.Add(1)
							b := make([]byte, *n)
							return &b, nil
						})
					}))
					for _, n := range v17Sizes(v17Small) {
						before := ran.Load()
						done := v17InFlight(t, c, v)
						var echoed int
						require.NoError(t, c.Call(t.Context(), "V17.CallBack", n, &echoed))
						got := <-seen
						if n < v17Small {
							require.NoError(t, got.err, "%d bytes", n)
							assert.Equal(t, before+1, ran.Load())
						} else {
							t.Logf("%d bytes: %v", n, got.err)
							require.Error(t, got.err, "%d bytes", n)
							assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(got.err), "%v", got.err)
							if tc.method == "C17.Echo" {
								assert.True(t, ferry.NotExecuted(got.err), "never sent: %v", got.err)
								assert.Equal(t, before, ran.Load(), "the client's handler did not run")
							} else {
								assert.False(t, ferry.NotExecuted(got.err), "the client's handler ran: %v", got.err)
								assert.Equal(t, before+1, ran.Load())
							}
							assert.Contains(t, got.err.Error(), fmt.Sprintf("the peer's %d-byte message limit", v17Small))
						}
						done()
						v17Up(t, c)
					}
				})
			}
		})
	}
}

// TestVlimits17ConnectHookCall: a server's connect hook may call its
// client before the client's hello has been read (client.WithHandlers).
// The call waits for the hello, so it too keeps to the client's limit: a
// request over it fails at the server, not executed, and the connection
// stays up; one within it goes through.
func TestVlimits17ConnectHookCall(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			seen := make(chan v17PeerCall, 2)
			var ran atomic.Int64
			s := server.New(server.WithConnHooks(func(p *server.Peer) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				for _, n := range []int{v17Small + 1, v17Small - 128} {
					var got int
					seen <- v17PeerCall{n, p.Call(ctx, "C17.Echo", make([]byte, n), &got)}
				}
			}, nil))
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			c := tr.dial(t, s, client.WithConfig(v17Cfg(v17Small)), client.WithHandlers(func(c *client.Client) error {
				return client.Handle(c, "C17.Echo", func(_ context.Context, b *[]byte) (*int, error) {
					ran.Add(1)
					n := len(*b)
					return &n, nil
				})
			}))
			over, under := <-seen, <-seen
			t.Logf("%d bytes: %v", over.n, over.err)
			require.Error(t, over.err)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(over.err), "%v", over.err)
			assert.True(t, ferry.NotExecuted(over.err))
			require.NoError(t, under.err)
			assert.Equal(t, int64(1), ran.Load())
			v17Up(t, c)
		})
	}
}

// TestVlimits17StreamMessages: streaming messages keep to the smaller
// limit too (PROTOCOL.md 6, "Size"): a message over the peer's limit is
// refused by the sender's Send with resource_exhausted, and the stream
// goes on; so does the connection. Each direction, and a stream the
// server opens to its client.
func TestVlimits17StreamMessages(t *testing.T) {
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("server sends over the client's limit", func(t *testing.T) {
				sendErrs := make(chan error, 8)
				s := server.New()
				t.Cleanup(func() { s.Close() })
				v := newV17Svc()
				v.register(t, s)
				require.NoError(t, server.HandleServerStream(s, "V17.Blobs", func(_ context.Context, sizes *[]int, send func(*[]byte) error) error {
					for _, n := range *sizes {
						b := make([]byte, n)
						sendErrs <- send(&b)
					}
					return nil
				}))
				c := tr.dial(t, s, client.WithConfig(v17Cfg(v17Small)))
				sizes := v17Sizes(v17Small)
				r, err := client.OpenServerStream[[]int, []byte](t.Context(), c, "V17.Blobs", &sizes)
				require.NoError(t, err)
				defer r.Close()
				for _, n := range sizes {
					if n > v17Small {
						continue
					}
					m, err := r.Recv()
					require.NoError(t, err, "%d bytes", n)
					assert.Len(t, *m, n)
				}
				_, err = r.Recv()
				require.ErrorIs(t, err, io.EOF)
				for _, n := range sizes {
					err := <-sendErrs
					if n < v17Small {
						assert.NoError(t, err, "%d bytes", n)
						continue
					}
					t.Logf("%d bytes: %v", n, err)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d bytes: %v", n, err)
				}
				v17Up(t, c)
			})
			t.Run("client sends over the server's limit", func(t *testing.T) {
				s := server.New(server.WithConfig(v17Cfg(v17Small)))
				t.Cleanup(func() { s.Close() })
				v := newV17Svc()
				v.register(t, s)
				require.NoError(t, server.HandleClientStream(s, "V17.Count", func(_ context.Context, recv func() (*[]byte, error)) (*[]int, error) {
					var got []int
					for range 100 {
						m, err := recv()
						if errors.Is(err, io.EOF) {
							return &got, nil
						}
						if err != nil {
							return nil, err
						}
						got = append(got, len(*m))
					}
					return &got, nil
				}))
				c := tr.dial(t, s)
				w, err := client.OpenClientStream[[]byte, []int](t.Context(), c, "V17.Count")
				require.NoError(t, err)
				defer w.Close()
				var want []int
				for _, n := range v17Sizes(v17Small) {
					b := make([]byte, n)
					err := w.Send(&b)
					if n < v17Small {
						require.NoError(t, err, "%d bytes", n)
						want = append(want, n)
						continue
					}
					t.Logf("%d bytes: %v", n, err)
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%d bytes: %v", n, err)
					assert.Contains(t, err.Error(), fmt.Sprintf("the peer's %d-byte limit", v17Small))
				}
				got, err := w.CloseAndRecv()
				require.NoError(t, err)
				assert.Equal(t, want, *got)
				v17Up(t, c)
			})
			t.Run("server's stream to the client", func(t *testing.T) {
				seen := make(chan []error, 1)
				s := server.New()
				t.Cleanup(func() { s.Close() })
				v := newV17Svc()
				v.register(t, s)
				require.NoError(t, server.Handle(s, "V17.StreamBack", func(ctx context.Context, _ *int) (*int, error) {
					w, err := client.OpenClientStream[[]byte, int](ctx, server.PeerFromContext(ctx), "C17.Count")
					if err != nil {
						return nil, err
					}
					defer w.Close()
					var errs []error
					for _, n := range v17Sizes(v17Small) {
						b := make([]byte, n)
						errs = append(errs, w.Send(&b))
					}
					total, err := w.CloseAndRecv()
					seen <- append(errs, err)
					if err != nil {
						return nil, err
					}
					return total, nil
				}))
				c := tr.dial(t, s, client.WithConfig(v17Cfg(v17Small)), client.WithHandlers(func(c *client.Client) error {
					return client.HandleClientStream(c, "C17.Count", func(_ context.Context, recv func() (*[]byte, error)) (*int, error) {
						total := 0
						for range 100 {
							m, err := recv()
							if errors.Is(err, io.EOF) {
								break
							}
							if err != nil {
								return nil, err
							}
							total += len(*m)
						}
						return &total, nil
					})
				}))
				var total int
				require.NoError(t, c.Call(t.Context(), "V17.StreamBack", 0, &total))
				errs := <-seen
				want := 0
				for i, n := range v17Sizes(v17Small) {
					if n < v17Small {
						assert.NoError(t, errs[i], "%d bytes", n)
						want += n
						continue
					}
					t.Logf("%d bytes: %v", n, errs[i])
					assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(errs[i]), "%d bytes: %v", n, errs[i])
				}
				assert.NoError(t, errs[len(errs)-1])
				assert.Equal(t, want, total)
				v17Up(t, c)
			})
		})
	}
}

// TestVlimits17LargeError: an error is cut to the caller's limit too. A
// handler's error whose message (up to 64 KiB) and details would make a
// response past a client's smaller MaxMessageSize goes without its
// details and with its message cut ("…"); the code and the call in flight
// beside it are kept, and the connection stays up. So does a streaming
// call's final status. Before, the server sent the whole error and the
// client closed its call stream on it.
func TestVlimits17LargeError(t *testing.T) {
	const limit = 16 << 10
	for _, tr := range v17Conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := server.New()
			t.Cleanup(func() { s.Close() })
			v := newV17Svc()
			v.register(t, s)
			bigErr := func(n int) error {
				return &ferry.Error{Code: ferry.CodeFailedPrecondition, Message: strings.Repeat("é", n/2),
					Details: map[string]string{"why": strings.Repeat("x", 8<<10)}}
			}
			require.NoError(t, server.Handle(s, "V17.Fail", func(_ context.Context, n *int) (*int, error) {
				return nil, bigErr(*n)
			}))
			require.NoError(t, server.HandleServerStream(s, "V17.FailStream", func(_ context.Context, n *int, _ func(*int) error) error {
				return bigErr(*n)
			}))
			c := tr.dial(t, s, client.WithConfig(v17Cfg(limit)))
			for _, n := range []int{1 << 10, 4 << 10, limit - 128, limit + 1, 64 << 10} {
				done := v17InFlight(t, c, v)
				err := c.Call(t.Context(), "V17.Fail", n, nil)
				require.Error(t, err)
				assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "%d bytes", n)
				fe := ferry.FromError(err)
				switch {
				case n+8<<10 < limit-128:
					assert.True(t, fe.Message == strings.Repeat("é", n/2), "the whole message (%d bytes), got %d: %.80s", n, len(fe.Message), fe.Message)
					assert.NotEmpty(t, fe.Details)
				case n < limit-64:
					assert.True(t, fe.Message == strings.Repeat("é", n/2), "the message fits (%d bytes), got %d: %.80s", n, len(fe.Message), fe.Message)
					assert.Empty(t, fe.Details, "without the details")
				default:
					t.Logf("%d bytes: message cut to %d bytes, details %v", n, len(fe.Message), fe.Details)
					assert.Less(t, len(fe.Message), limit)
					assert.True(t, strings.HasSuffix(fe.Message, "…"), "cut, marked")
				}
				done()
				r, err := client.OpenServerStream[int, int](t.Context(), c, "V17.FailStream", &n)
				require.NoError(t, err)
				_, err = r.Recv()
				assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "%d bytes: %v", n, len(err.Error()))
				r.Close()
				v17Up(t, c)
			}
		})
	}
}

// TestVlimits17BlockedSendGetsStatus: client.Stream.Send "once a failure
// ended the stream (the handler's error status included), [returns]
// that failure". A Send blocked on a full window when the handler's
// error status arrives, read by Recv on another goroutine, returned
// "unavailable: connection lost (use of closed network connection)": the
// status's Recv released the stream under it.
func TestVlimits17BlockedSendGetsStatus(t *testing.T) {
	const size = 16 << 10
	s := newServer(t)
	fail := make(chan struct{})
	require.NoError(t, server.HandleBidi(s, "Sink.Refuse", func(ctx context.Context, _ *server.BidiStream[[]byte, []byte]) error {
		select {
		case <-fail:
			return ferry.NewError(ferry.CodeAborted, "no more")
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	c, err := client.Dial(t.Context(), listen(t, s))
	require.NoError(t, err)
	defer c.Close()
	st, err := client.OpenBidi[[]byte, []byte](t.Context(), c, "Sink.Refuse")
	require.NoError(t, err)
	defer st.Close()
	sent, sendErr := sendUntilBlocked(t, st, size)
	close(fail)
	_, err = st.Recv()
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err), "Recv: %v", err)
	select {
	case err := <-sendErr:
		require.Error(t, err)
		assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err), "the blocked Send, after %d sent: %v", sent.Load(), err)
		assert.Contains(t, err.Error(), "no more")
	case <-time.After(5 * time.Second):
		t.Fatal("Send still blocks 5 s after the handler's status")
	}
}
