//go:build unix

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/nvimtest"
)

// TestCallNeovimWithoutPlain: Neovim answers Ferry's session preface with
// a MessagePack-RPC error, and ferry call retries plainly, with the params
// array sent as it is (four params for nvim_buf_get_lines).
func TestCallNeovimWithoutPlain(t *testing.T) {
	nv := nvimtest.Start(t)
	c, err := client.New(nv.Conn, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	// Its answer also means startup is over and the socket is listening.
	require.NoError(t, c.Call(t.Context(), "nvim_buf_set_lines", client.Params{0, 0, -1, false, []string{"alpha", "beta"}}, nil))

	addr := "unix:" + nv.Socket
	r := ferryCmd(t, "call", "-compact", addr, "nvim_buf_get_lines", "[0,0,-1,false]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "[\"alpha\",\"beta\"]\n", r.stdout)

	r = ferryCmd(t, "call", nv.Socket, "nvim_eval", `"1+2"`)
	require.Equal(t, exitOK, r.code, "an absolute path is a unix socket: %s", r.stderr)
	assert.Equal(t, "3\n", r.stdout)

	r = ferryCmd(t, "call", addr, "nvim_eval", `"1+2"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "3\n", r.stdout)

	r = ferryCmd(t, "call", addr, "nvim_eval", `"x"`)
	assert.Equal(t, exitCodeBase+2, r.code, "every plain error has code unknown")
	assert.Contains(t, r.stderr, `Vim:E121: Undefined variable: x`)

	r = ferryCmd(t, "list", addr)
	assert.Equal(t, exitCodeBase+2, r.code)
	assert.Contains(t, r.stderr, "Invalid method: Introspect.List")
	assert.Contains(t, r.stderr, "a server other than Ferry's has no introspection")

	r = ferryCmd(t, "call", "-plain", "-compact", addr, "nvim_buf_get_lines", "[0,1,2,true]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "[\"beta\"]\n", r.stdout)
}
