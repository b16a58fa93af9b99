package e2e_test

import (
	"context"
	"io"
	"testing"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24NilValues: nil args, nil replies and nil messages: "nil
// fits anything and leaves the zero value", on the caller's side too
// ("Replies are decoded by the same conversion rules").
func TestVaudit24NilValues(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "N.Nil", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	require.NoError(t, server.Handle(s, "N.Args", func(ctx context.Context, a *v24Args) (*v24Args, error) { return a, nil }))
	require.NoError(t, s.HandleStream("N.Stream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		v := 7
		if err := st.Recv(&v); err != nil {
			return nil, err
		}
		if err := st.Send(v); err != nil {
			return nil, err
		}
		return nil, st.Send(nil)
	}))
	c := dialTCP(t, s)
	ctx := t.Context()

	n := 5
	require.NoError(t, c.Call(ctx, "N.Nil", nil, &n))
	assert.Equal(t, 0, n, "a nil result leaves the zero value")
	var a v24Args
	require.NoError(t, c.Call(ctx, "N.Args", nil, &a))
	assert.Equal(t, v24Args{}, a, "nil args: the zero value")
	var b []byte
	require.NoError(t, c.Call(ctx, "Echo.Echo", []byte{}, &b))
	assert.NotNil(t, b)
	assert.Empty(t, b)

	st, err := c.NewStream(ctx, "N.Stream")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(nil))
	got := 9
	require.NoError(t, st.Recv(&got))
	assert.Equal(t, 0, got, "a nil message leaves the handler's value at zero")
	got = 9
	require.NoError(t, st.Recv(&got))
	assert.Equal(t, 0, got, "a nil message leaves the caller's value at zero")
	assert.Equal(t, io.EOF, st.Recv(&got))
	res := 3
	require.NoError(t, st.Result(&res))
	assert.Equal(t, 0, res, "a nil result")
}
