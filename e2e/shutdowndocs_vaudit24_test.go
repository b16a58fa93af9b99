package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24ShutdownPastCtx: "Shutdown returns at most 100 ms after ctx
// ends, whatever the handlers do. If ctx ends before they finish,
// Shutdown ... refuses as not executed the calls whose handlers had not
// started ... and returns ctx's error"; only the call whose handler was
// still running ends with its outcome unknown.
func TestVaudit24ShutdownPastCtx(t *testing.T) {
	stubborn := make(chan struct{})
	started := make(chan struct{}, 1)
	s := server.New(server.WithMaxConcurrentCalls(1))
	require.NoError(t, server.Handle(s, "B.Stubborn", func(ctx context.Context, _ *struct{}) (*bool, error) {
		started <- struct{}{}
		<-stubborn // ignores its context
		return nil, nil
	}))
	defer close(stubborn)
	c, _ := ferrytest.ServeAndDial(t, s)
	running := c.Go(t.Context(), "B.Stubborn", nil, nil)
	<-started
	queued := c.Go(t.Context(), "B.Stubborn", nil, nil)
	// The queued call has surely arrived once a third is refused.
	require.Eventually(t, func() bool { return c.Call(t.Context(), "B.Stubborn", nil, nil) != nil }, 5*time.Second, 10*time.Millisecond)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	late := time.Since(deadlineOf(ctx))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	t.Logf("Shutdown returned %v after its ctx ended", late)
	assert.Less(t, late, 500*time.Millisecond, "at most 100 ms after ctx ended (slack for a loaded machine)")
	qerr := queued.Wait()
	assert.True(t, ferry.NotExecuted(qerr), "the queued call: %v", qerr)
	rerr := running.Wait()
	assert.Error(t, rerr)
	assert.False(t, ferry.NotExecuted(rerr), "the running call: %v", rerr)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}
