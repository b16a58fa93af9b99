package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13PeerCallsLikeClientCalls checks server.Peer's doc: calls
// to the client's handlers go "with the same deadlines, cancellation,
// errors, metadata, interceptors and limits as calls in the other
// direction": arguments refused as PROTOCOL.md 2.1 says (the handler does
// not run), an unknown method unimplemented and not executed, a reply that
// does not fit internal, an expired context not executed, the deadline and
// metadata reaching the handler; over a Ferry session and over plain
// MessagePack-RPC alike (the latter without deadline or metadata on the
// wire).
func TestVreview13PeerCallsLikeClientCalls(t *testing.T) {
	for _, tr := range conduits {
		t.Run(tr.name, func(t *testing.T) {
			s, peers := peerServer(t)
			ran := make(chan Args, 16)
			got := make(chan context.Context, 1)
			c := tr.dial(t, s, client.WithHandlers(func(c *client.Client) error {
				if err := client.Handle(c, "Cli.Add", func(ctx context.Context, a *Args) (*int, error) {
					ran <- *a
					n := a.A + a.B
					return &n, nil
				}); err != nil {
					return err
				}
				return client.Handle(c, "Cli.Ctx", func(ctx context.Context, _ *struct{}) (*string, error) {
					got <- ctx
					w := "ok"
					return &w, nil
				})
			}))
			// A bare connection is a client's once its first byte arrived
			// (PROTOCOL.md 1): until then the server cannot tell it.
			require.NoError(t, c.Call(t.Context(), "Arith.Add", client.Params{1, 2}, nil))
			p := <-peers
			ctx := t.Context()

			var n int
			err := p.Call(ctx, "Cli.Add", client.Params{3.5, 4}, &n)
			var fe *ferry.Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "Cli.Add: argument 1 (A): want an integer, got 3.5", fe.Message)
			err = p.Call(ctx, "Cli.Add", client.Params{1, 2, 3}, &n)
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "Cli.Add: takes at most 2 arguments (A, B), got 3", fe.Message)
			if !tr.plain {
				assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
				err = p.Call(ctx, "Cli.Nope", nil, nil)
				assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%v", err)
				assert.True(t, ferry.NotExecuted(err), "%v", err)
			}
			select {
			case a := <-ran:
				t.Fatalf("a refused call ran: %v", a)
			default:
			}

			var word bool
			err = p.Call(ctx, "Cli.Add", client.Params{1, 2}, &word)
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
			assert.False(t, ferry.NotExecuted(err))
			<-ran

			expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer cancel()
			err = p.Call(expired, "Cli.Add", client.Params{1, 2}, &n)
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)

			dl := time.Now().Add(time.Minute)
			dctx, cancel2 := context.WithDeadline(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"k": "v"}), dl)
			defer cancel2()
			var w string
			require.NoError(t, p.Call(dctx, "Cli.Ctx", nil, &w))
			hctx := <-got
			if !tr.plain {
				hdl, ok := hctx.Deadline()
				require.True(t, ok, "the deadline crosses the wire")
				assert.WithinDuration(t, dl, hdl, 5*time.Second)
				assert.Equal(t, "v", ferry.IncomingMetadata(hctx)["k"])
			}
			n = 0
			require.NoError(t, p.Call(ctx, "Cli.Add", client.Params{4.0, 3}, &n))
			assert.Equal(t, 7, n)
			<-ran
			sum, err := client.Invoke[int](ctx, p, "Cli.Add", Args{A: 1, B: 1})
			require.NoError(t, err)
			assert.Equal(t, 2, *sum)
			<-ran
		})
	}
}

// Args is the arguments of the client's Cli.Add.
type Args struct{ A, B int }

var _ ferry.Caller = (*server.Peer)(nil)
