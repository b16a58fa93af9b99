package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vr16Raws are codec.Raw values that are whole msgpack values, some of
// them unusual: empty (msgpack nil), nil itself, extensions of each form,
// and long ones, which go out by reference.
func vr16Raws() map[string]codec.Raw {
	bin := make([]byte, 5, 5+100<<10)
	bin[0] = 0xc6
	binary.BigEndian.PutUint32(bin[1:], 100<<10)
	bin = append(bin, bytes.Repeat([]byte{'b'}, 100<<10)...)
	ext := make([]byte, 6, 6+80<<10)
	ext[0] = 0xc9
	binary.BigEndian.PutUint32(ext[1:], 80<<10)
	ext[5] = 7
	ext = append(ext, bytes.Repeat([]byte{'e'}, 80<<10)...)
	arr := append([]byte{0xdc, 0x00, 0x03}, 0xc0, 0xd6, 0xff, 0, 0, 0, 1)
	arr = append(arr, bin...)
	return map[string]codec.Raw{
		"nil Raw":        nil,
		"empty Raw":      {},
		"msgpack nil":    {0xc0},
		"timestamp32":    {0xd6, 0xff, 0, 0, 0, 1},
		"timestamp96":    append([]byte{0xc7, 12, 0xff}, make([]byte, 12)...),
		"fixext16":       append([]byte{0xd8, 5}, make([]byte, 16)...),
		"ext8 empty":     {0xc7, 0, 9},
		"empty map":      {0x80},
		"long bin":       bin,
		"long ext32":     ext,
		"long array mix": arr,
	}
}

// TestVreview16UnusualRawsGoThrough: "Raw carries a msgpack value through
// unchanged". The whole-value scan that now guards every Raw-like reply,
// argument and stream message refuses none of these legitimate ones: as a
// reply, as arguments, as Params, and as streaming messages and results.
func TestVreview16UnusualRawsGoThrough(t *testing.T) {
	s := server.New()
	raws := vr16Raws()
	require.NoError(t, server.Handle(s, "Raw.Reply", func(_ context.Context, which *string) (*codec.Raw, error) {
		r := raws[*which]
		return &r, nil
	}))
	require.NoError(t, server.Handle(s, "Raw.Echo", func(_ context.Context, r *codec.Raw) (*codec.Raw, error) {
		return r, nil
	}))
	require.NoError(t, server.HandleBidi(s, "Raw.Chat", func(ctx context.Context, st *server.BidiStream[codec.Raw, codec.Raw]) error {
		for {
			m, err := st.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := st.Send(m); err != nil {
				return err
			}
		}
	}))
	require.NoError(t, server.HandleClientStream(s, "Raw.Last", func(ctx context.Context, recv func() (*codec.Raw, error)) (*codec.Raw, error) {
		var last codec.Raw
		for {
			m, err := recv()
			if err == io.EOF {
				return &last, nil
			}
			if err != nil {
				return nil, err
			}
			last = *m
		}
	}))
	c, _ := ferrytest.ServeAndDial(t, s)

	// A Raw of no bytes goes out as msgpack nil, and nil decodes as the
	// zero value (the codec doc's "nil leaves the zero value").
	want := func(r codec.Raw) codec.Raw {
		if len(r) == 0 || len(r) == 1 && r[0] == 0xc0 {
			return nil
		}
		return r
	}
	for name, raw := range raws {
		var r codec.Raw
		require.NoError(t, c.Call(t.Context(), "Raw.Reply", name, &r), name)
		assert.Equal(t, want(raw), r, "%s as a reply", name)

		r = nil
		require.NoError(t, c.Call(t.Context(), "Raw.Echo", raw, &r), name)
		assert.Equal(t, want(raw), r, "%s as arguments", name)
		r = nil
		require.NoError(t, c.Call(t.Context(), "Raw.Echo", client.Params{raw}, &r), name)
		assert.Equal(t, want(raw), r, "%s as params", name)

		st, err := client.OpenBidi[codec.Raw, codec.Raw](t.Context(), c, "Raw.Chat")
		require.NoError(t, err, name)
		require.NoError(t, st.Send(&raw), name)
		m, err := st.Recv()
		require.NoError(t, err, name)
		assert.Equal(t, want(raw), *m, "%s as a stream message", name)
		require.NoError(t, st.CloseSend())
		_, err = st.Recv()
		require.ErrorIs(t, err, io.EOF, name)
		require.NoError(t, st.Close())

		w, err := client.OpenClientStream[codec.Raw, codec.Raw](t.Context(), c, "Raw.Last")
		require.NoError(t, err, name)
		require.NoError(t, w.Send(&raw), name)
		res, err := w.CloseAndRecv()
		require.NoError(t, err, name)
		assert.Equal(t, want(raw), *res, "%s as a stream result", name)
	}
}

// vr16Deep is a Raw of n nested one-element arrays around a 1.
func vr16Deep(n int) codec.Raw {
	return append(bytes.Repeat([]byte{0x91}, n), 0x01)
}

// TestVreview16RawAtTheDepthLimit: a Raw reply, argument and stream
// message nested right at the limit the sender allows is taken by the
// receiver, and one a level deeper is refused at the sender
// (resource_exhausted) while the connection goes on.
func TestVreview16RawAtTheDepthLimit(t *testing.T) {
	s := server.New()
	require.NoError(t, server.Handle(s, "Raw.Deep", func(_ context.Context, n *int) (*codec.Raw, error) {
		r := vr16Deep(*n)
		return &r, nil
	}))
	require.NoError(t, server.Handle(s, "Raw.Len", func(_ context.Context, r *codec.Raw) (*int, error) {
		n := len(*r)
		return &n, nil
	}))
	require.NoError(t, server.HandleServerStream(s, "Raw.DeepStream", func(ctx context.Context, n *int, send func(*codec.Raw) error) error {
		r := vr16Deep(*n)
		return send(&r)
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	check := func(what string, call func(n int) error) {
		last := 54
		for n := 55; n <= 70; n++ {
			err := call(n)
			if err == nil {
				require.Equal(t, n-1, last, "%s: %d levels pass after a refusal", what, n)
				last = n
				continue
			}
			require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%s, %d levels: %v", what, n, err)
			var one int
			require.NoError(t, c.Call(t.Context(), "Raw.Len", codec.Raw{0x01}, &one), "%s, %d levels: the connection goes on", what, n)
		}
		require.Greater(t, last, 55, what)
		require.Less(t, last, 70, what)
		t.Logf("%s: up to %d nested arrays", what, last)
	}
	check("a reply", func(n int) error {
		var r codec.Raw
		return c.Call(t.Context(), "Raw.Deep", n, &r)
	})
	check("arguments", func(n int) error {
		var l int
		return c.Call(t.Context(), "Raw.Len", vr16Deep(n), &l)
	})
	check("a stream message", func(n int) error {
		st, err := client.OpenServerStream[int, codec.Raw](t.Context(), c, "Raw.DeepStream", &n)
		if err != nil {
			return err
		}
		defer st.Close()
		_, err = st.Recv()
		return err
	})
}
