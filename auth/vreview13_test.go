package auth_test

import (
	"context"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13PackageDocExampleDeniesStreams builds the server of the
// package doc's example and checks its promise, "anything not allowed is
// denied", for a streaming method too: with the policy's unary Interceptor
// alone (as the example had it), an identity allowed nothing but
// Health.Check opened Invoice.Feed and its handler ran; the example now
// installs StreamInterceptor as well.
func TestVreview13PackageDocExampleDeniesStreams(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{tokAlice: "alice"})
	require.NoError(t, err)
	policy, err := auth.NewPolicy(
		auth.Rule{Identity: "billing", Allow: []string{"Invoice.*"}, Deny: []string{"Invoice.Purge"}},
		auth.Rule{Identity: "*", Allow: []string{"Health.Check"}},
	)
	require.NoError(t, err)
	s := server.New( // as in doc.go, without TLS and stats
		server.WithAuth(tokens.Authenticate),
		server.WithInterceptors(policy.Interceptor()),
		server.WithStreamInterceptors(policy.StreamInterceptor()),
	)
	ran := make(chan struct{}, 2)
	require.NoError(t, server.HandleServerStream(s, "Invoice.Feed", func(ctx context.Context, n *int, send func(*int) error) error {
		ran <- struct{}{}
		return send(n)
	}))
	require.NoError(t, server.Handle(s, "Invoice.Get", func(ctx context.Context, n *int) (*int, error) {
		ran <- struct{}{}
		return n, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	defer func() { s.Close(); <-done }()
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithToken(tokAlice))
	require.NoError(t, err)
	defer c.Close()

	err = c.Call(t.Context(), "Invoice.Get", 1, nil)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "unary: %v", err)
	n := 1
	r, err := client.OpenServerStream[int, int](t.Context(), c, "Invoice.Feed", &n)
	if err == nil {
		_, err = r.Recv()
		r.Close()
	}
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "stream: %v", err)
	assert.True(t, ferry.NotExecuted(err))
	assert.Empty(t, ran, "no handler ran")
}
