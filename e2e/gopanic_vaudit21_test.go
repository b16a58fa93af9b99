package e2e_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit21GoInterceptorPanicNotExecuted: a client interceptor that
// panics in a Go call fails it CodeInternal (client.WithInterceptors),
// flagged not executed when it panicked before calling next (nothing was
// sent: the handler did not run), and not flagged when it panicked after
// next sent the call (the handler ran). Before, neither was flagged.
func TestVaudit21GoInterceptorPanicNotExecuted(t *testing.T) {
	var runs atomic.Int64
	s := server.New()
	require.NoError(t, server.Handle(s, "S.Count", func(context.Context, *struct{}) (*int, error) {
		runs.Add(1)
		return nil, nil
	}))
	t.Cleanup(func() { s.Close() })
	c := dialPipe(t, s, client.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		if info.Method == "S.Count" {
			panic("before next")
		}
		_ = next(ctx, &ferry.CallInfo{Method: "S.Count"}, args, reply)
		panic("after next")
	}))

	err := c.Go(t.Context(), "S.Count", nil, nil).Wait()
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "panicked before next, nothing sent: %v", err)
	assert.Zero(t, runs.Load())

	err = c.Go(t.Context(), "S.Other", nil, nil).Wait()
	require.Error(t, err)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err), "panicked after next sent the call: %v", err)
	assert.Equal(t, int64(1), runs.Load())
}
