//go:build unix

package client_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/nvimtest"
)

// TestParamsNeovim calls Neovim, a MessagePack-RPC server that is not
// Ferry's, with methods of several params: client.Params sends them as
// the params array itself.
func TestParamsNeovim(t *testing.T) {
	nv := nvimtest.Start(t)
	c, err := client.New(nv.Conn, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()

	require.NoError(t, c.Call(ctx, "nvim_buf_set_lines", client.Params{0, 0, -1, false, []string{"one", "two", "three"}}, nil))
	var lines []string
	require.NoError(t, c.Call(ctx, "nvim_buf_get_lines", client.Params{0, 0, -1, false}, &lines))
	assert.Equal(t, []string{"one", "two", "three"}, lines)
	require.NoError(t, c.Call(ctx, "nvim_buf_get_lines", client.Params{0, 1, 2, true}, &lines))
	assert.Equal(t, []string{"two"}, lines)

	var sum int
	require.NoError(t, c.Call(ctx, "nvim_eval", client.Params{"20+22"}, &sum))
	assert.Equal(t, 42, sum)
	require.NoError(t, c.Call(ctx, "nvim_eval", "1+2", &sum), "a single args value is the one-element params array")
	assert.Equal(t, 3, sum)

	// Without Params the four values are one param, which Neovim refuses.
	err = c.Call(ctx, "nvim_buf_get_lines", []any{0, 0, -1, false}, &lines)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expecting 4")
	assert.Equal(t, ferry.CodeUnknown, ferry.CodeOf(err))
}
