package client_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview12HelloRefusedUnavailable: a server whose AuthFunc refuses
// the hello with CodeUnavailable (its identity backend is down) answered
// it: Dial returns that answer, not executed, and does not say the server
// closed the stream or broke the protocol (a refusal was told from a lost
// stream by its code alone, and unavailable is both).
func TestVreview12HelloRefusedUnavailable(t *testing.T) {
	s := server.New(server.WithAuth(func(context.Context, ferry.AuthInfo) (any, error) {
		return nil, ferry.NewError(ferry.CodeUnavailable, "the identity backend is down")
	}))
	t.Cleanup(func() { s.Close() })
	addr := ferrytest.Serve(t, s)
	c, err := client.Dial(t.Context(), addr)
	if c != nil {
		c.Close()
	}
	require.Error(t, err)
	t.Log(err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
	assert.Contains(t, err.Error(), "the identity backend is down")
	assert.NotContains(t, err.Error(), "without answering")
	assert.NotContains(t, err.Error(), "broke the protocol")
	assert.NotContains(t, err.Error(), "closed the connection")
}
