package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v24WaitServer serves S.Wait, a stream whose handler reports its start
// and waits for its context.
// With watch, it also returns once ShuttingDown is closed.
func v24WaitServer(t *testing.T, watch bool) (*server.Server, chan struct{}, chan error) {
	started, ended := make(chan struct{}, 4), make(chan error, 4)
	s := server.New()
	require.NoError(t, s.HandleStream("S.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		started <- struct{}{}
		select {
		case <-ctx.Done():
		case <-v24If(watch, server.ShuttingDown(ctx)):
		}
		ended <- ctx.Err()
		return "bye", nil
	}))
	return s, started, ended
}

// TestVaudit24StreamEnds: what a stream's Recv returns when the call ends
// each way its docs name: the Client's Close (canceled, ErrClosed), a
// deadline before Close (the context's error), a connection lost
// (unavailable, not flagged), a graceful Shutdown (the handler sees
// ShuttingDown and its result arrives).
func TestVaudit24StreamEnds(t *testing.T) {
	wait := func(t *testing.T, ch chan error) error {
		t.Helper()
		select {
		case err := <-ch:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("timed out")
			return nil
		}
	}
	t.Run("client Close", func(t *testing.T) {
		s, started, _ := v24WaitServer(t, false)
		c := ferrytest.Pipe(t, s)
		st, err := c.NewStream(t.Context(), "S.Wait")
		require.NoError(t, err)
		<-started
		got := make(chan error, 1)
		go func() { got <- st.Recv(new(int)) }()
		require.NoError(t, c.Close())
		err = wait(t, got)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
		assert.ErrorIs(t, err, ferry.ErrClosed)
	})
	t.Run("deadline, then Close", func(t *testing.T) {
		s, started, _ := v24WaitServer(t, false)
		c := ferrytest.Pipe(t, s)
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		st, err := c.NewStream(ctx, "S.Wait")
		require.NoError(t, err)
		<-started
		<-ctx.Done()
		require.NoError(t, st.Close())
		err = st.Recv(new(int))
		assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "the context's error if it ended first: %v", err)
		err = st.Send(1)
		assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
	})
	t.Run("server Close", func(t *testing.T) {
		s, started, ended := v24WaitServer(t, false)
		c := ferrytest.Dial(t, ferrytest.Serve(t, s))
		st, err := c.NewStream(t.Context(), "S.Wait")
		require.NoError(t, err)
		defer st.Close()
		<-started
		got := make(chan error, 1)
		go func() { got <- st.Recv(new(int)) }()
		require.NoError(t, s.Close())
		assert.ErrorIs(t, wait(t, ended), context.Canceled, "running handlers see their contexts canceled")
		err = wait(t, got)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		assert.False(t, ferry.NotExecuted(err), "%v", err)
	})
	t.Run("graceful Shutdown", func(t *testing.T) {
		s, started, ended := v24WaitServer(t, true)
		c := ferrytest.Dial(t, ferrytest.Serve(t, s))
		st, err := c.NewStream(t.Context(), "S.Wait")
		require.NoError(t, err)
		defer st.Close()
		<-started
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(ctx) }()
		assert.NoError(t, wait(t, ended), "the handler saw ShuttingDown, its ctx alive")
		var v int
		err = st.Recv(&v)
		assert.Equal(t, "EOF", fmtV(err))
		var res string
		require.NoError(t, st.Result(&res))
		assert.Equal(t, "bye", res)
		assert.NoError(t, wait(t, shut))
		_, err = client.OpenBidi[int, int](t.Context(), c, "S.Wait")
		assert.True(t, ferry.NotExecuted(err), "%v", err)
	})
}

// v24If returns ch when cond holds, else nil (a channel that never
// delivers).
func v24If(cond bool, ch <-chan struct{}) <-chan struct{} {
	if cond {
		return ch
	}
	return nil
}
