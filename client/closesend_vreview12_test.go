package client_test

import (
	"context"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview12CloseSendAfterTheCallFinished: CloseSend once the call has
// finished (Recv returned io.EOF or the handler's error) sends nothing and
// returns the call's status, nil if it succeeded, as Send returns the
// failed call's status. It returned "connection lost (use of closed
// network connection): the call may or may not have executed", CodeUnavailable,
// for a call that had finished: Recv's end had released the stream.
func TestVreview12CloseSendAfterTheCallFinished(t *testing.T) {
	s := server.New()
	require.NoError(t, s.HandleStream("S.Fail", server.Bidi, func(context.Context, *server.Stream) (any, error) {
		return nil, ferry.NewError(ferry.CodePermissionDenied, "no")
	}))
	require.NoError(t, s.HandleStream("S.Ok", server.Bidi, func(context.Context, *server.Stream) (any, error) {
		return "done", nil
	}))
	t.Cleanup(func() { s.Close() })
	c := ferrytest.Pipe(t, s)

	t.Run("succeeded", func(t *testing.T) {
		st, err := c.NewStream(t.Context(), "S.Ok")
		require.NoError(t, err)
		defer st.Close()
		var v any
		require.ErrorIs(t, st.Recv(&v), io.EOF)
		require.NoError(t, st.CloseSend())
		require.NoError(t, st.CloseSend(), "again")
		var r string
		require.NoError(t, st.Result(&r))
		assert.Equal(t, "done", r)
	})
	t.Run("failed", func(t *testing.T) {
		st, err := c.NewStream(t.Context(), "S.Fail")
		require.NoError(t, err)
		defer st.Close()
		var v any
		require.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(st.Recv(&v)))
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(st.Send(1)), "Send")
		err = st.CloseSend()
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "CloseSend, as Send: %v", err)
	})
}
