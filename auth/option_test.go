package auth_test

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Policy.Option polices a server's unary calls, notifications and
// streaming calls alike, as the package doc's example installs it: the
// allowed ones run, the denied ones are refused as not executed before
// their handlers run.
func TestPolicyOptionCoversEveryKindOfCall(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{tokAlice: "alice"})
	require.NoError(t, err)
	policy, err := auth.NewPolicy(auth.Rule{Identity: "alice", Allow: []string{"Open.*"}})
	require.NoError(t, err)
	s := server.New(server.WithAuth(tokens.Authenticate), policy.Option())
	var runs atomic.Int64
	noted := make(chan string, 4)
	for _, svc := range []string{"Open", "Shut"} {
		require.NoError(t, server.Handle(s, svc+".Echo", func(_ context.Context, in *int) (*int, error) {
			runs.Add(1)
			return in, nil
		}))
		require.NoError(t, server.Handle(s, svc+".Note", func(_ context.Context, in *string) (*struct{}, error) {
			runs.Add(1)
			noted <- *in
			return nil, nil
		}))
		require.NoError(t, server.HandleServerStream(s, svc+".Watch", func(_ context.Context, n *int, send func(*int) error) error {
			runs.Add(1)
			return send(n)
		}))
	}
	c, err := client.Dial(t.Context(), ferrytest.Serve(t, s), client.WithToken(tokAlice))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	watch := func(method string) (int, error) {
		n := 7
		r, err := client.OpenServerStream[int, int](ctx, c, method, &n)
		if err != nil {
			return 0, err
		}
		defer r.Close()
		got, err := r.Recv()
		if err != nil {
			return 0, err
		}
		if _, err := r.Recv(); err != io.EOF {
			return 0, err
		}
		return *got, nil
	}
	var got int
	require.NoError(t, c.Call(ctx, "Open.Echo", 3, &got))
	assert.Equal(t, 3, got)
	n, err := watch("Open.Watch")
	require.NoError(t, err)
	assert.Equal(t, 7, n)
	require.NoError(t, c.Notify(ctx, "Shut.Note", "denied"))
	require.NoError(t, c.Notify(ctx, "Open.Note", "allowed"))
	assert.Equal(t, "allowed", <-noted, "the denied notification never reached its handler, which would have noted it first")
	assert.Equal(t, int64(3), runs.Load())

	err = c.Call(ctx, "Shut.Echo", 3, &got)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	_, err = watch("Shut.Watch")
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.Equal(t, int64(3), runs.Load(), "no denied handler ran")
	assert.Empty(t, noted, "the denied notification's handler never ran")
	assert.Equal(t, uint64(3), policy.Denied(), "the notification, the call and the stream")
}

// Policy.ClientOption polices what a server calls on its client (peer
// mode): its calls and the streams it opens.
func TestPolicyClientOptionCoversCallsAndStreams(t *testing.T) {
	policy, err := auth.NewPolicy(auth.Rule{Identity: "*", Allow: []string{"Client.*"}, Deny: []string{"Client.SecretCall", "Client.SecretStream"}})
	require.NoError(t, err)
	s := server.New()
	type poke struct{ Method, Kind string }
	done := make(chan error, 1)
	require.NoError(t, server.Handle(s, "Svc.Poke", func(ctx context.Context, p *poke) (*struct{}, error) {
		peer := server.PeerFromContext(ctx)
		if p.Kind == "call" {
			var out int
			done <- peer.Call(ctx, p.Method, 5, &out)
			return nil, nil
		}
		st, err := peer.OpenStream(ctx, p.Method, ferry.ServerStreaming)
		if err == nil {
			if err = st.Send(5); err == nil {
				err = st.CloseSend()
			}
			if err == nil {
				var n int
				err = st.Recv(&n)
			}
			st.Close()
		}
		done <- err
		return nil, nil
	}))
	c, err := client.Dial(t.Context(), ferrytest.Serve(t, s), policy.ClientOption())
	require.NoError(t, err)
	defer c.Close()
	var runs atomic.Int64
	for _, m := range []string{"Client.Call", "Client.SecretCall"} {
		require.NoError(t, client.Handle(c, m, func(_ context.Context, in *int) (*int, error) {
			runs.Add(1)
			return in, nil
		}))
	}
	for _, m := range []string{"Client.Stream", "Client.SecretStream"} {
		require.NoError(t, client.HandleServerStream(c, m, func(_ context.Context, n *int, send func(*int) error) error {
			runs.Add(1)
			return send(n)
		}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, p := range []poke{{"Client.Call", "call"}, {"Client.Stream", "stream"}} {
		require.NoError(t, c.Call(ctx, "Svc.Poke", p, nil))
		require.NoError(t, <-done, "%v", p)
	}
	for _, p := range []poke{{"Client.SecretCall", "call"}, {"Client.SecretStream", "stream"}} {
		require.NoError(t, c.Call(ctx, "Svc.Poke", p, nil))
		err := <-done
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%v: %v", p, err)
		assert.True(t, ferry.NotExecuted(err), "%v: %v", p, err)
	}
	assert.Equal(t, int64(2), runs.Load(), "no denied handler ran")
	assert.Equal(t, uint64(2), policy.Denied())
}
