package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestShuttingDown: a handler sees ShuttingDown close as soon as a
// graceful Shutdown begins, and a long-lived one that returns then lets
// Shutdown finish at once, its caller answered, instead of holding it
// until Shutdown's deadline. Outside a handler ShuttingDown is nil.
func TestShuttingDown(t *testing.T) {
	assert.Nil(t, server.ShuttingDown(context.Background()))
	s := server.New()
	started := make(chan struct{})
	require.NoError(t, server.Handle(s, "W.Watch", func(ctx context.Context, _ *struct{}) (*string, error) {
		shutting := server.ShuttingDown(ctx)
		if shutting == nil {
			return nil, assert.AnError
		}
		close(started)
		select {
		case <-shutting:
			r := "ended for the shutdown"
			return &r, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}))
	c, _ := ferrytest.ServeAndDial(t, s)
	got := make(chan error, 1)
	var reply string
	go func() { got <- c.Call(t.Context(), "W.Watch", struct{}{}, &reply) }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not start")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	t0 := time.Now()
	require.NoError(t, s.Shutdown(ctx))
	assert.Less(t, time.Since(t0), 5*time.Second, "Shutdown did not wait for its deadline")
	select {
	case err := <-got:
		require.NoError(t, err)
		assert.Equal(t, "ended for the shutdown", reply)
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not end")
	}
}
