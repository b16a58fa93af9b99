package e2e_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24CallerMisuseEveryCaller: ferry.Caller's "A nil ctx, or a
// reply that is neither nil nor a non-nil pointer, is refused before
// anything is sent: CodeInvalidArgument, NotExecuted (so too a nil ctx
// given to Go, Notify or a stream opener)", on a server.Peer and on the
// client.Conn a client-side handler calls back on.
func TestVaudit24CallerMisuseEveryCaller(t *testing.T) {
	type outcome struct {
		name string
		err  error
	}
	misuse := func(prefix string, c ferry.Caller, o ferry.StreamOpener) []outcome {
		var n int
		var nilCtx context.Context
		out := []outcome{
			{"Call nil ctx", c.Call(nilCtx, "X.Y", nil, nil)},
			{"Go nil ctx", c.Go(nilCtx, "X.Y", nil, nil).Wait()},
			{"Notify nil ctx", c.Notify(nilCtx, "X.Y", nil)},
			{"Call non-pointer reply", c.Call(context.Background(), "X.Y", nil, n)},
			{"Go nil-pointer reply", c.Go(context.Background(), "X.Y", nil, (*int)(nil)).Wait()},
		}
		if o != nil {
			_, err := o.OpenStream(nilCtx, "X.Y", ferry.BidiStreaming)
			out = append(out, outcome{"OpenStream nil ctx", err})
		}
		for i := range out {
			out[i].name = prefix + " " + out[i].name
		}
		return out
	}
	results := make(chan []outcome, 2)
	s := newServer(t)
	require.NoError(t, server.Handle(s, "B.Misuse", func(ctx context.Context, _ *struct{}) (*bool, error) {
		p := server.PeerFromContext(ctx)
		results <- misuse("peer", p, p)
		if err := p.Call(ctx, "C.Misuse", nil, nil); err != nil {
			return nil, err
		}
		return nil, nil
	}))
	c := dialTCP(t, s, client.WithHandlers(func(c *client.Client) error {
		return client.Handle(c, "C.Misuse", func(ctx context.Context, _ *struct{}) (*bool, error) {
			results <- misuse("conn", client.ConnFromContext(ctx), nil)
			return nil, nil
		})
	}))
	require.NoError(t, c.Call(t.Context(), "B.Misuse", nil, nil))
	for range 2 {
		for _, o := range <-results {
			assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(o.err), "%s: %v", o.name, o.err)
			assert.True(t, ferry.NotExecuted(o.err), "%s: %v", o.name, fmt.Sprint(o.err))
		}
	}
}
