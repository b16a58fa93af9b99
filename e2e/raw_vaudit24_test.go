package e2e_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24RawUnchanged: "Raw carries a msgpack value through
// unchanged ... (str and bin kept apart, integer map keys, extension
// types)", through a unary call and through a stream, both ways.
func TestVaudit24RawUnchanged(t *testing.T) {
	values := map[string]codec.Raw{
		"str":              {0xa2, 'h', 'i'},
		"bin":              {0xc4, 0x02, 'h', 'i'},
		"int keys":         {0x82, 0x01, 0xa1, 'a', 0xd0, 0x80, 0xc0},
		"ext":              {0xd4, 0x05, 0x2a},
		"ext8":             {0xc7, 0x03, 0x7f, 1, 2, 3},
		"wide int":         {0xcf, 0, 0, 0, 0, 0, 0, 0, 1},
		"float32":          {0xca, 0x40, 0x60, 0, 0},
		"nested mixed":     {0x92, 0x81, 0xc4, 0x01, 'k', 0xc3, 0xd6, 0x01, 1, 2, 3, 4},
		"array of nothing": {0x90},
	}
	s := newServer(t)
	require.NoError(t, s.HandleStream("R.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var last codec.Raw
		for {
			var r codec.Raw
			if err := st.Recv(&r); err != nil {
				return last, nil
			}
			last = r
			if err := st.Send(r); err != nil {
				return nil, err
			}
		}
	}))
	c := dialTCP(t, s)
	for name, v := range values {
		var got codec.Raw
		require.NoError(t, c.Call(t.Context(), "Echo.Echo", v, &got), name)
		assert.Equal(t, v, got, "unary %s", name)

		st, err := c.NewStream(t.Context(), "R.Echo")
		require.NoError(t, err)
		require.NoError(t, st.Send(v))
		var back codec.Raw
		require.NoError(t, st.Recv(&back))
		assert.Equal(t, v, back, "stream %s", name)
		require.NoError(t, st.CloseSend())
		require.Error(t, st.Recv(&back)) // io.EOF
		var res codec.Raw
		require.NoError(t, st.Result(&res))
		assert.Equal(t, v, res, "result %s", name)
		st.Close()
	}

	// nil is the one value a Raw does not hold as its bytes: msgpack nil
	// decodes into a Raw as the empty Raw (nil leaves the zero value),
	// which encodes as nil again.
	got := codec.Raw{1}
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", codec.Raw{0xc0}, &got))
	assert.Empty(t, got)
	b, err := codec.Marshal(got)
	require.NoError(t, err)
	assert.Equal(t, []byte{0xc0}, b)
}
