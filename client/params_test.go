package client_test

import (
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
)

// TestParamsFerryServer: a Ferry server maps client.Params onto a
// method's argument as it maps any positional params, over a session and
// over bare MessagePack-RPC.
func TestParamsFerryServer(t *testing.T) {
	for name, opts := range map[string][]client.Option{"session": nil, "plain": {client.WithPlainMsgpackRPC()}} {
		t.Run(name, func(t *testing.T) {
			s := server.New()
			require.NoError(t, s.Register(testsvc.Arith{}))
			require.NoError(t, s.Register(testsvc.Echo{}))
			defer s.Close()
			cc, sc := net.Pipe()
			go s.ServeConn(sc)
			c, err := client.New(cc, opts...)
			require.NoError(t, err)
			defer c.Close()
			ctx := t.Context()

			var sum int
			require.NoError(t, c.Call(ctx, "Arith.Add", client.Params{3, 4}, &sum))
			assert.Equal(t, 7, sum)
			require.NoError(t, c.Notify(ctx, "Arith.Add", client.Params{1, 1}))

			err = c.Call(ctx, "Arith.Add", client.Params{3, 4, 5}, &sum)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "takes at most 2 arguments")
			if name == "session" { // bare MessagePack-RPC errors carry no code
				assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
			}

			var raw codec.Raw
			require.NoError(t, c.Call(ctx, "Echo.Echo", client.Params{"x"}, &raw))
			var s1 string
			require.NoError(t, codec.Unmarshal(raw, &s1))
			assert.Equal(t, "x", s1)

			err = c.Call(ctx, "Arith.Add", client.Params{func() {}}, &sum)
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "an unencodable param: %v", err)
			assert.True(t, ferry.NotExecuted(err))
		})
	}
}
