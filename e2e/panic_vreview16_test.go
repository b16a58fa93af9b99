package e2e

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview16PanicThroughRetryingInterceptors: "A handler that panics
// makes next return the failure its caller gets (CodeInternal, "the
// handler of M panicked")" for interceptors that call next twice (a retry
// after the failure: the second run's outcome is the call's), and that
// recover panics themselves (they see none, and the outer one's result
// is the caller's); a panic in an interceptor after next fails the call
// internal and the server goes on.
func TestVreview16PanicThroughRetryingInterceptors(t *testing.T) {
	var runs atomic.Int32
	var firstErr atomic.Value
	retry := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method != "P.Flaky" {
			return next(ctx, args)
		}
		r, err := next(ctx, args)
		if err != nil {
			firstErr.Store(err.Error())
			return next(ctx, args)
		}
		return r, err
	}
	var recovered atomic.Int32
	guard := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (r any, err error) {
		defer func() {
			if p := recover(); p != nil {
				recovered.Add(1)
				panic(p)
			}
		}()
		r, err = next(ctx, args)
		if info.Method == "P.After" {
			panic("an interceptor after next")
		}
		return r, err
	}
	s := server.New(server.WithInterceptors(guard, retry))
	require.NoError(t, server.Handle(s, "P.Flaky", func(_ context.Context, x *int) (*int, error) {
		if runs.Add(1) == 1 {
			panic("first run")
		}
		return x, nil
	}))
	require.NoError(t, server.Handle(s, "P.After", func(_ context.Context, x *int) (*int, error) { return x, nil }))
	c, _ := ferrytest.ServeAndDial(t, s)
	var n int
	require.NoError(t, c.Call(t.Context(), "P.Flaky", 5, &n), "the retry's outcome")
	assert.Equal(t, 5, n)
	assert.Equal(t, int32(2), runs.Load())
	assert.Contains(t, firstErr.Load(), "the handler of P.Flaky panicked")
	assert.Equal(t, int32(0), recovered.Load(), "the handler's panic never unwinds through an interceptor")

	err := c.Call(t.Context(), "P.After", 1, &n)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.Equal(t, int32(1), recovered.Load(), "an interceptor's own panic does")
	require.NoError(t, c.Call(t.Context(), "P.Flaky", 6, &n), "the server goes on")
}
