package client_test

import (
	"context"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit26DialNilContext: Dial refuses a nil ctx with
// CodeInvalidArgument, not executed, before dialling (it panicked inside
// net.Dialer); the listener sees no connection.
func TestVaudit26DialNilContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	var nilCtx context.Context
	var c *client.Client
	require.NotPanics(t, func() { c, err = client.Dial(nilCtx, ln.Addr().String()) })
	if c != nil {
		c.Close()
	}
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.Contains(t, err.Error(), "nil context.Context")
}
