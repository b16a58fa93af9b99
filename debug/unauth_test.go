package debug_test

import (
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
)

// Calls refused because the connection is not authenticated are counted
// per method and code, like the other calls refused before a handler.
func TestStatsCountsUnauthenticatedCalls(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{strings.Repeat("s", auth.MinTokenLen): "alice"})
	require.NoError(t, err)
	st := debug.New()
	srv := server.New(st.Option(), server.WithAuth(tokens.Authenticate))
	require.NoError(t, srv.Register(Arith{}))
	addr := ferrytest.Serve(t, srv)

	// A bare MessagePack-RPC client sends no token: its calls are refused.
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c, err := client.New(nc, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	var r int64
	for range 2 {
		err = c.Call(t.Context(), "Arith.Add", Args{A: 1, B: 2}, &r)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "not authenticated")
	}

	add := find(t, st.Snapshot(srv), "Arith.Add")
	assert.Equal(t, uint64(0), add.Calls)
	assert.Equal(t, uint64(2), add.Refused)
	assert.Equal(t, map[string]uint64{ferry.CodeUnauthenticated.String(): 2}, add.RefusedCodes)
}
