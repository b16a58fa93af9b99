package e2e_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startTCP(t *testing.T, opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s := server.New(opts...)
	require.NoError(t, s.Register(testsvc.Arith{}))
	require.NoError(t, s.Register(testsvc.Echo{}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		require.NoError(t, s.Close())
		require.ErrorIs(t, <-done, server.ErrServerClosed)
	})
	return s, l.Addr().String()
}

func TestSmoke(t *testing.T) {
	_, addr := startTCP(t)
	ctx := t.Context()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err)
	defer c.Close()
	var sum int64
	require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 3, B: 4}, &sum))
	assert.Equal(t, int64(7), sum)

	err = c.Call(ctx, "Arith.Div", testsvc.Args{A: 3, B: 0}, &sum)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))

	call := c.Go(ctx, "Arith.Add", testsvc.Args{A: 1, B: 2}, new(int64))
	<-call.Done()
	require.NoError(t, call.Err())
	assert.Equal(t, int64(3), *call.Reply.(*int64))

	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = c.Call(dctx, "Echo.Sleep", int64(5000), nil)
	assert.True(t, errors.Is(err, context.DeadlineExceeded), "%v", err)

	err = c.Call(ctx, "Echo.Panic", struct{}{}, nil)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err))
	err = c.Call(ctx, "Nope.Nope", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	require.NoError(t, c.Notify(ctx, "Arith.Add", testsvc.Args{}))
	require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 3, B: 4}, &sum))
}
