package e2e

import (
	"context"
	"github.com/ferryrpc/ferry/debug"
	"io"
	"log/slog"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v18Svc is a net/rpc-style service whose method returns a typed nil.
type v18Svc struct{}

// Maybe fails only when told to, through an *ferry.Error variable that
// stays nil otherwise: the error it returns is a non-nil error holding a
// nil *ferry.Error.
func (v18Svc) Maybe(_ context.Context, fail bool, reply *int) error {
	var fe *ferry.Error
	if fail {
		fe = ferry.NewError(ferry.CodeAborted, "told to")
	}
	*reply = 1
	return fe
}

// TestVaudit18TypedNilError: a handler (or interceptor) that returns a
// nil *ferry.Error as its error, the classic Go slip, made the server's
// writer dereference it while encoding the error response, a panic no
// one recovers: the whole server died ("invalid memory address or nil
// pointer dereference" in status.AppendError). ferry.CodeOf, NotExecuted
// and FromError did the same on such an error. The Error doc's "any other
// handler error arrives as CodeUnknown" cannot apply to an error that
// carries nothing; it arrives as CodeInternal (an invariant broke), and
// the server goes on.
func TestVaudit18TypedNilError(t *testing.T) {
	var typedNil *ferry.Error
	var err error = typedNil
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err))
	assert.False(t, ferry.NotExecuted(err))
	fe := ferry.FromError(err)
	require.NotNil(t, fe)
	assert.Equal(t, ferry.CodeInternal, fe.Code)
	assert.Equal(t, "ferry: internal: a nil *ferry.Error was returned as an error", err.Error())
	assert.NotSame(t, fe, ferry.FromError(err), "each caller gets its own")

	s := server.New(server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "Guard.Refuse" {
			return nil, typedNil
		}
		return next(ctx, args)
	}))
	require.NoError(t, s.RegisterName("Svc", v18Svc{}))
	require.NoError(t, server.Handle(s, "Gen.Maybe", func(context.Context, *bool) (*int, error) {
		one := 1
		return &one, typedNil
	}))
	require.NoError(t, server.Handle(s, "Guard.Refuse", func(context.Context, *bool) (*int, error) { return nil, nil }))
	require.NoError(t, server.HandleBidi(s, "Gen.Stream", func(context.Context, *server.BidiStream[int, int]) error {
		return typedNil
	}))
	c, _ := ferrytest.ServeAndDial(t, s, client.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		if info.Method == "Local.Refuse" {
			return typedNil
		}
		return next(ctx, info, args, reply)
	}))

	var n int
	for _, m := range []string{"Svc.Maybe", "Gen.Maybe", "Guard.Refuse"} {
		err := c.Call(t.Context(), m, false, &n)
		require.Error(t, err, m)
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%s: %v", m, err)
	}
	err = c.Call(t.Context(), "Svc.Maybe", true, &n)
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err), "a real *Error still arrives as it was")

	st, err := client.OpenBidi[int, int](t.Context(), c, "Gen.Stream")
	require.NoError(t, err)
	_, err = st.Recv()
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	require.NoError(t, st.Close())

	err = c.Call(t.Context(), "Local.Refuse", 1, &n)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err))

	err = c.Call(t.Context(), "Gen.Maybe", false, &n)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "the server goes on")
}

// v18MyErr is a user's error type whose Error reads a field through its
// pointer receiver.
type v18MyErr struct{ msg string }

func (e *v18MyErr) Error() string { return e.msg }

// TestVaudit18TypedNilOfAnErrorType: the same slip with a user's own
// error type, whose Error panics on a nil receiver. The server read the
// error's message in its writer, outside any recover, and died; with
// debug.ServerLogger and a server logger installed, the server's log
// lines read it too. The call fails with CodeInternal naming the type,
// unary or streaming, and the server goes on.
func TestVaudit18TypedNilOfAnErrorType(t *testing.T) {
	var typedNil *v18MyErr
	s := server.New(
		server.WithLogger(slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		server.WithInterceptors(debug.ServerLogger(slog.New(slog.NewJSONHandler(io.Discard, nil)))),
	)
	require.NoError(t, server.Handle(s, "My.Fail", func(context.Context, *int) (*int, error) { return nil, typedNil }))
	require.NoError(t, server.Handle(s, "My.Ok", func(_ context.Context, x *int) (*int, error) { return x, nil }))
	require.NoError(t, server.HandleBidi(s, "My.Stream", func(context.Context, *server.BidiStream[int, int]) error {
		return typedNil
	}))
	c, _ := ferrytest.ServeAndDial(t, s)

	var n int
	err := c.Call(t.Context(), "My.Fail", 1, &n)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "v18MyErr")

	st, err := client.OpenBidi[int, int](t.Context(), c, "My.Stream")
	require.NoError(t, err)
	_, err = st.Recv()
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	require.NoError(t, st.Close())

	require.NoError(t, c.Call(t.Context(), "My.Ok", 7, &n), "the server goes on")
	assert.Equal(t, 7, n)
}
