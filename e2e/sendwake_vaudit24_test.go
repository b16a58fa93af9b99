package e2e_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit24BlockedSendWakes: a client.Stream.Send blocked on a full
// window returns at once when its ctx is canceled (CodeCanceled) or the
// stream is closed (CodeCanceled wrapping ferry.ErrClosed: "Send and
// Recv, those in flight included"), well before the 10 s WriteTimeout; so
// does a server.Stream.Send when the caller cancels.
func TestVaudit24BlockedSendWakes(t *testing.T) {
	chunk := strings.Repeat("x", 64<<10)
	serverSend := make(chan error, 1)
	s := newServer(t)
	require.NoError(t, s.HandleStream("S.Deaf", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		<-ctx.Done()
		return nil, nil
	}))
	require.NoError(t, s.HandleStream("S.Flood", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		for range 1000 {
			if err := st.Send(chunk); err != nil {
				serverSend <- err
				return nil, err
			}
		}
		serverSend <- nil
		return nil, nil
	}))
	c := dialTCP(t, s)

	fill := func(t *testing.T, ctx context.Context) (chan error, func() error) {
		st, err := c.NewStream(ctx, "S.Deaf")
		require.NoError(t, err)
		t.Cleanup(func() { st.Close() })
		errs := make(chan error, 1)
		go func() {
			for range 1000 {
				if err := st.Send(chunk); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
		return errs, st.Close
	}
	waitBlocked := func(errs chan error) {
		// The window (256 KiB) fills within a few sends; the loop then
		// blocks. Nothing can be observed of a blocked Send but that it
		// has not returned.
		assert.Never(t, func() bool { return len(errs) > 0 }, 300*time.Millisecond, 10*time.Millisecond)
	}
	within := func(errs chan error, what string) error {
		select {
		case err := <-errs:
			return err
		case <-time.After(3 * time.Second):
			t.Fatalf("%s: the blocked Send did not return", what)
			return nil
		}
	}

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		errs, _ := fill(t, ctx)
		waitBlocked(errs)
		cancel()
		err := within(errs, "cancel")
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	})
	t.Run("close", func(t *testing.T) {
		errs, closeIt := fill(t, t.Context())
		waitBlocked(errs)
		require.NoError(t, closeIt())
		err := within(errs, "close")
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
		assert.ErrorIs(t, err, ferry.ErrClosed)
	})
	t.Run("server side, caller cancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		st, err := c.NewStream(ctx, "S.Flood")
		require.NoError(t, err)
		defer st.Close()
		waitBlocked(serverSend)
		cancel()
		err = within(serverSend, "server")
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	})
}
