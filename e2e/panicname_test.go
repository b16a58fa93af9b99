package e2e

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPanicNamesItsPlace: a panic is the call's failure (CodeInternal),
// and its message names where it happened: "the handler of M panicked"
// for the handler, interceptors or not (ferry.ServerInterceptor's doc),
// and the interceptor for a panic in an interceptor (it said "the
// handler" before, for a handler that never ran). Streams alike.
func TestPanicNamesItsPlace(t *testing.T) {
	unary := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "P.Intercepted" {
			panic("in the interceptor")
		}
		return next(ctx, args)
	}
	stream := func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		if info.Method == "P.StreamIntercepted" {
			panic("in the stream interceptor")
		}
		return next(ctx, st)
	}
	s := server.New(server.WithInterceptors(unary), server.WithStreamInterceptors(stream))
	var ran atomic.Int32
	for _, name := range []string{"P.Handler", "P.Intercepted"} {
		require.NoError(t, server.Handle(s, name, func(context.Context, *int) (*int, error) {
			ran.Add(1)
			panic("in the handler")
		}))
	}
	for _, name := range []string{"P.StreamHandler", "P.StreamIntercepted"} {
		require.NoError(t, server.HandleServerStream(s, name, func(context.Context, *int, func(*int) error) error {
			panic("in the stream handler")
		}))
	}
	c, _ := ferrytest.ServeAndDial(t, s)

	var n int
	err := c.Call(t.Context(), "P.Handler", 1, &n)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "the handler of P.Handler panicked")
	err = c.Call(t.Context(), "P.Intercepted", 1, &n)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "a server interceptor of P.Intercepted panicked")
	assert.Equal(t, int32(1), ran.Load(), "the interceptor panicked before the handler ran")

	for method, want := range map[string]string{
		"P.StreamHandler":     "the stream handler panicked",
		"P.StreamIntercepted": "a stream interceptor of P.StreamIntercepted panicked",
	} {
		r, err := client.OpenServerStream[int, int](t.Context(), c, method, new(int))
		require.NoError(t, err)
		_, err = r.Recv()
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%s: %v", method, err)
		assert.ErrorContains(t, err, want, method)
		require.NoError(t, r.Close())
	}
	err = c.Call(t.Context(), "P.Handler", 1, &n)
	assert.Contains(t, err.Error(), "the handler of P.Handler panicked", "the server goes on")
}
