package e2e

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vr16Wrap is the usual wrapping error type: Error and Unwrap read its
// field, so both panic on a nil receiver.
type vr16Wrap struct{ err error }

func (e *vr16Wrap) Error() string { return "wrapped: " + e.err.Error() }
func (e *vr16Wrap) Unwrap() error { return e.err }

// TestVreview16TypedNilWrapper: FromError's "an error whose methods panic
// when read ... so that a handler's slip fails its call, not the server"
// for a typed nil whose Unwrap panics too, which errors.As and errors.Is
// call (CodeOf in debug's interceptors), unary and streaming, with and
// without interceptors.
func TestVreview16TypedNilWrapper(t *testing.T) {
	var typedNil *vr16Wrap
	for _, name := range []string{"plain", "debug"} {
		t.Run(name, func(t *testing.T) {
			var opts []server.Option
			if name == "debug" {
				l := slog.New(slog.NewJSONHandler(io.Discard, nil))
				opts = append(opts, server.WithInterceptors(debug.ServerLogger(l)), debug.New().Option())
			}
			s := server.New(opts...)
			require.NoError(t, server.Handle(s, "W.Fail", func(context.Context, *int) (*int, error) { return nil, typedNil }))
			require.NoError(t, server.Handle(s, "W.Ok", func(_ context.Context, x *int) (*int, error) { return x, nil }))
			require.NoError(t, server.HandleBidi(s, "W.Stream", func(context.Context, *server.BidiStream[int, int]) error {
				return typedNil
			}))
			c, _ := ferrytest.ServeAndDial(t, s)
			var n int
			err := c.Call(t.Context(), "W.Fail", 1, &n)
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
			st, err := client.OpenBidi[int, int](t.Context(), c, "W.Stream")
			require.NoError(t, err)
			_, err = st.Recv()
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
			require.NoError(t, st.Close())
			require.NoError(t, c.Call(t.Context(), "W.Ok", 7, &n), "the server goes on")
		})
	}
}

// TestVreview16TypedNilFromANotification: the same slip in the handler of
// a notification, whose error the server only logs (at debug level, with
// a JSON handler, which calls Error itself): the server goes on.
func TestVreview16TypedNilFromANotification(t *testing.T) {
	var typedNil *vr16Wrap
	s := server.New(server.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ran := make(chan struct{}, 1)
	require.NoError(t, server.Handle(s, "W.Note", func(context.Context, *int) (*int, error) {
		ran <- struct{}{}
		return nil, typedNil
	}))
	require.NoError(t, server.Handle(s, "W.Ok", func(_ context.Context, x *int) (*int, error) { return x, nil }))
	c, _ := ferrytest.ServeAndDial(t, s)
	require.NoError(t, c.Notify(t.Context(), "W.Note", 1))
	<-ran
	var n int
	require.NoError(t, c.Call(t.Context(), "W.Ok", 7, &n), "the server goes on")
	assert.Equal(t, 7, n)
}
