package arith_test

import (
	"io"
	"math"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsStreamingMethods checks the package doc's streaming methods:
// Counter.Count sends 1..n then ends, and n outside 0..1,000,000 is
// invalid_argument; Echo.Chat returns every message unchanged until the
// caller closes its side; and Add wraps around, Div(MinInt64, -1) is
// MinInt64, as Go's arithmetic.
func TestDocsStreamingMethods(t *testing.T) {
	addr := start(t)
	ctx := t.Context()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()

	count := func(n int64) ([]int64, error) {
		st, err := client.OpenServerStream[int64, int64](ctx, c, "Counter.Count", &n)
		if err != nil {
			return nil, err
		}
		defer st.Close()
		var got []int64
		for range 10 {
			m, err := st.Recv()
			if err == io.EOF {
				return got, nil
			}
			if err != nil {
				return got, err
			}
			got = append(got, *m)
		}
		return got, nil
	}
	got, err := count(3)
	require.NoError(t, err)
	assert.Equal(t, []int64{1, 2, 3}, got)
	got, err = count(0)
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Equal(t, int64(1_000_000), int64(arith.MaxCount))
	for _, n := range []int64{-1, arith.MaxCount + 1} {
		_, err = count(n)
		require.Error(t, err, "n = %d", n)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "n = %d: %v", n, err)
	}

	chat, err := client.OpenBidi[any, any](ctx, c, "Echo.Chat")
	require.NoError(t, err)
	defer chat.Close()
	for _, m := range []any{"a", int8(-3), map[string]any{"k": []any{true, nil}}} {
		require.NoError(t, chat.Send(&m))
		r, err := chat.Recv()
		require.NoError(t, err)
		assert.EqualValues(t, m, *r)
	}
	require.NoError(t, chat.CloseSend())
	_, err = chat.Recv()
	require.ErrorIs(t, err, io.EOF, "the handler returns when the caller closes its side")

	var r int64
	require.NoError(t, c.Call(ctx, "Arith.Add", arith.Args{A: math.MaxInt64, B: 1}, &r))
	assert.Equal(t, int64(math.MinInt64), r, "Add wraps around")
	require.NoError(t, c.Call(ctx, "Arith.Div", arith.Args{A: math.MinInt64, B: -1}, &r))
	assert.Equal(t, int64(math.MinInt64), r, "MinInt64 / -1")
}
