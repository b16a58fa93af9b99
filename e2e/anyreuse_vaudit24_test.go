package e2e_test

import (
	"context"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v24Doc is a message with a field of any type.
type v24Doc struct {
	Kind string
	Data any
}

// TestVaudit24ReusedAnyTargets: a variable of type any (or holding one:
// a []any, a struct with an any field) reused for the next message, as
// loops over Recv do, takes each value in turn. The second value failed
// to decode ("Decode(non-pointer int64)", "reflect.Value.SetInt using
// unaddressable value"), so every message after the first was dropped
// (client: internal wrapping ferry.ErrDropped; server: invalid_argument).
func TestVaudit24ReusedAnyTargets(t *testing.T) {
	type got struct {
		a   []any
		err error
	}
	serverSaw := make(chan got, 1)
	s := newServer(t)
	require.NoError(t, s.HandleStream("A.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var v any // reused for every message
		var seen []any
		for {
			err := st.Recv(&v)
			if err == io.EOF {
				serverSaw <- got{seen, nil}
				return nil, nil
			}
			if err != nil {
				serverSaw <- got{seen, err}
				return nil, err
			}
			seen = append(seen, v)
			if err := st.Send(v); err != nil {
				return nil, err
			}
		}
	}))
	c := dialTCP(t, s)
	ctx := t.Context()

	msgs := []any{1, "two", []any{3, "x"}, map[string]any{"k": 4}, nil, 5.5, true}
	st, err := c.NewStream(ctx, "A.Echo")
	require.NoError(t, err)
	defer st.Close()
	var v any // reused for every message
	for i, m := range msgs {
		require.NoError(t, st.Send(m))
		err := st.Recv(&v)
		require.NoError(t, err, "message %d (%v): %v", i, m, ferry.CodeOf(err))
		assert.Equal(t, fmtV(m), fmtV(v), "message %d", i)
	}
	require.NoError(t, st.CloseSend())
	require.Equal(t, io.EOF, st.Recv(&v))
	g := <-serverSaw
	require.NoError(t, g.err)
	assert.Len(t, g.a, len(msgs))

	var r any
	for i, m := range []any{1, "two", []any{3}, nil, 4} {
		require.NoError(t, c.Call(ctx, "Echo.Echo", m, &r), "call %d", i)
		assert.Equal(t, fmtV(m), fmtV(r), "call %d", i)
	}

	var row []any
	for i, m := range [][]any{{1, 2}, {"x", 3}, {4}, {5, "y", 6}} {
		require.NoError(t, c.Call(ctx, "Echo.Echo", m, &row), "row %d", i)
		assert.Equal(t, fmtV(m), fmtV(row), "row %d", i)
	}

	var d v24Doc
	for i, m := range []v24Doc{{"a", 1}, {"b", "two"}, {"c", []any{3}}, {"d", nil}} {
		require.NoError(t, c.Call(ctx, "Echo.Echo", m, &d), "doc %d", i)
		assert.Equal(t, fmtV(m), fmtV(d), "doc %d", i)
	}

	// An any holding a non-nil pointer is decoded through, as before.
	n := 0
	var p any = &n
	require.NoError(t, c.Call(ctx, "Echo.Echo", 7, &p))
	assert.Equal(t, 7, n)
}
