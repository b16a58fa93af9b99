package auth_test

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The policy's stream interceptor refuses a denied stream before its
// handler runs, as not executed, and lets an allowed one through.
func TestPolicyDeniesStreams(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{tokAlice: "alice"})
	require.NoError(t, err)
	policy, err := auth.NewPolicy(auth.Rule{Identity: "alice", Allow: []string{"Feed.*"}, Deny: []string{"Feed.Admin"}})
	require.NoError(t, err)
	s := server.New(server.WithAuth(tokens.Authenticate), server.WithStreamInterceptors(policy.StreamInterceptor()))
	var runs atomic.Int64
	for _, m := range []string{"Feed.Watch", "Feed.Admin", "Other.Watch"} {
		require.NoError(t, server.HandleServerStream(s, m, func(ctx context.Context, n *int, send func(*int) error) error {
			runs.Add(1)
			return send(n)
		}))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	defer func() {
		s.Close()
		<-done
	}()
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithToken(tokAlice))
	require.NoError(t, err)
	defer c.Close()

	open := func(method string) (int, error) {
		n := 7
		r, err := client.OpenServerStream[int, int](t.Context(), c, method, &n)
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
	got, err := open("Feed.Watch")
	require.NoError(t, err)
	assert.Equal(t, 7, got)
	for _, m := range []string{"Feed.Admin", "Other.Watch"} {
		_, err := open(m)
		require.Error(t, err, m)
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%s: %v", m, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", m, err)
	}
	assert.Equal(t, int64(1), runs.Load(), "only the allowed stream's handler ran")
	assert.Equal(t, uint64(2), policy.Denied())
}
