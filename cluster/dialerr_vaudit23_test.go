package cluster_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23NoEndpointSaysWhy: when every dial fails, a call fails with
// "no endpoint is available", and that was all: not logged, not in the
// error. A server this side's client options refuse (WithServerAuth), a
// token the servers refuse, a TLS mismatch all
// read as servers that are down. The error now names the last dial's
// failure and wraps it (code unavailable, not executed, as before).
func TestVaudit23NoEndpointSaysWhy(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{"a-token-of-sixteen-bytes": "alice"})
	require.NoError(t, err)
	guarded := startNode(t, "guarded", server.WithAuth(tokens.Authenticate))
	open := startNode(t, "open")
	for _, tc := range []struct {
		name string
		addr string
		opts []cluster.Option
		want string
	}{
		{"server refused", open.addr, []cluster.Option{cluster.WithClientOptions(client.WithServerAuth(
			func(context.Context, ferry.AuthInfo) (any, error) { return nil, errors.New("not the server we want") }))}, "not the server we want"},
		{"token refused", guarded.addr, nil, "no token"},
	} {
		c := newClient(t, resolver.Static(tc.addr), tc.opts...)
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		var who string
		err := c.Call(ctx, "Svc.Who", struct{}{}, &who)
		cancel()
		require.Error(t, err, tc.name)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%s: %v", tc.name, err)
		assert.True(t, ferry.NotExecuted(err), tc.name)
		assert.Contains(t, err.Error(), "no endpoint is available", tc.name)
		assert.Contains(t, err.Error(), tc.addr, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}
