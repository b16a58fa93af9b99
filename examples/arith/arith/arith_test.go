package arith_test

import (
	"context"
	"math"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start serves the arith services on a loopback port and returns its
// address.
func start(t *testing.T) string {
	t.Helper()
	s := server.New()
	require.NoError(t, arith.Register(s))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, s.Shutdown(ctx))
		require.ErrorIs(t, <-done, server.ErrServerClosed)
	})
	return l.Addr().String()
}

// Both protocols a client can speak reach the same methods.
var dialers = map[string][]client.Option{
	"ferry":   nil,
	"msgpack": {client.WithPlainMsgpackRPC()},
}

func TestArith(t *testing.T) {
	addr := start(t)
	for name, opts := range dialers {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			c, err := client.Dial(ctx, addr, opts...)
			require.NoError(t, err)
			defer c.Close()

			var r int64
			require.NoError(t, c.Call(ctx, "Arith.Add", arith.Args{A: 3, B: 4}, &r))
			assert.Equal(t, int64(7), r)
			require.NoError(t, c.Call(ctx, "Arith.Mul", arith.Args{A: -6, B: 7}, &r))
			assert.Equal(t, int64(-42), r)
			for _, tc := range []struct{ a, b, want int64 }{
				{7, 2, 3}, {-7, 2, -3}, {7, -2, -3}, {math.MinInt64, 1, math.MinInt64},
			} {
				require.NoError(t, c.Call(ctx, "Arith.Div", arith.Args{A: tc.a, B: tc.b}, &r))
				assert.Equal(t, tc.want, r, "%d / %d", tc.a, tc.b)
			}

			err = c.Call(ctx, "Arith.Div", arith.Args{A: 1, B: 0}, &r)
			var fe *ferry.Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "division by zero", fe.Message)
			if name == "ferry" { // a plain peer gets the message only
				assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
			}

			// The connection survives the error.
			require.NoError(t, c.Call(ctx, "Arith.Add", arith.Args{A: 1, B: 1}, &r))
			assert.Equal(t, int64(2), r)
		})
	}
}

func TestEchoKeepsBytes(t *testing.T) {
	addr := start(t)
	ctx := t.Context()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()

	values := []any{
		"str", []byte("bin"), int64(math.MinInt64), uint64(math.MaxUint64), 1.5, float32(2.5), nil,
		[]any{1, []any{2, []any{}}}, map[int]string{1: "a", -2: "b"}, string(make([]byte, 200<<10)),
	}
	for _, v := range values {
		in, err := codec.Marshal(v)
		require.NoError(t, err)
		var out codec.Raw
		require.NoError(t, c.Call(ctx, "Echo.Echo", codec.Raw(in), &out))
		if out == nil {
			out = codec.Raw{0xc0} // Raw decodes msgpack nil as nil
		}
		assert.Equal(t, in, []byte(out), "%T", v)
	}
}

func TestEchoMap(t *testing.T) {
	addr := start(t)
	ctx := t.Context()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()

	in := map[string]any{"n": int64(-3), "s": "x", "list": []any{int64(1), "two", nil}, "m": map[string]any{"b": true}}
	var out map[string]any
	require.NoError(t, c.Call(ctx, "Echo.Map", in, &out))
	assert.Equal(t, in, out)

	err = c.Call(ctx, "Echo.Map", []int{1}, &out) // not a map
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
}
