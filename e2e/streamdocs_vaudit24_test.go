package e2e_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// v24Server is a server with streaming methods for the stream checks:
// S.Echo echoes ints until EOF and returns their count; S.Fail returns
// a not_found status at once; S.Result returns a string result at once.
func v24Server(t *testing.T, opts ...server.Option) *server.Server {
	t.Helper()
	s := newServer(t, opts...)
	require.NoError(t, s.HandleStream("S.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		n := 0
		for {
			var v int
			err := st.Recv(&v)
			if err == io.EOF {
				return n, nil
			}
			if errors.Is(err, ferry.ErrDropped) {
				if serr := st.Send(-1); serr != nil {
					return nil, serr
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			n++
			if err := st.Send(v); err != nil {
				return nil, err
			}
		}
	}))
	require.NoError(t, s.HandleStream("S.Fail", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return nil, ferry.NewError(ferry.CodeNotFound, "nope")
	}))
	require.NoError(t, s.HandleStream("S.Result", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return "done", nil
	}))
	return s
}

// TestVaudit24ClientStreamStates: what client.Stream's Send, CloseSend,
// Recv, Result and Close return in each state their docs name.
func TestVaudit24ClientStreamStates(t *testing.T) {
	s := v24Server(t)
	c := dialTCP(t, s)
	ctx := t.Context()

	t.Run("Result before EOF, Send after CloseSend, CloseSend twice", func(t *testing.T) {
		st, err := c.NewStream(ctx, "S.Echo")
		require.NoError(t, err)
		defer st.Close()
		var n int
		assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(st.Result(&n)), "Result before Recv returned io.EOF")
		require.NoError(t, st.Send(1))
		var v int
		require.NoError(t, st.Recv(&v))
		assert.Equal(t, 1, v)
		require.NoError(t, st.CloseSend())
		assert.NoError(t, st.CloseSend(), "calling it again does nothing")
		assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(st.Send(2)), "Send after CloseSend")
		assert.Equal(t, io.EOF, st.Recv(&v))
		require.NoError(t, st.Result(&n))
		assert.Equal(t, 1, n)
		assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(st.Send(3)), "Send once the handler finished successfully")
		assert.NoError(t, st.CloseSend(), "CloseSend once the call succeeded")
		assert.Equal(t, io.EOF, st.Recv(&v), "Recv again after EOF")
	})

	t.Run("a handler's error status", func(t *testing.T) {
		st, err := c.NewStream(ctx, "S.Fail")
		require.NoError(t, err)
		defer st.Close()
		var v int
		err = st.Recv(&v)
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, ferry.CodeNotFound, fe.Code)
		assert.Equal(t, "nope", fe.Message)
		assert.False(t, ferry.NotExecuted(err))
		assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(st.Send(1)), "Send after a failure ended the stream")
		assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(st.CloseSend()), "CloseSend once the call finished: its error status")
		assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(st.Recv(&v)), "Recv again")
	})

	t.Run("a result that does not fit", func(t *testing.T) {
		st, err := c.NewStream(ctx, "S.Result")
		require.NoError(t, err)
		defer st.Close()
		require.Equal(t, io.EOF, st.Recv(nil))
		var n int
		err = st.Result(&n)
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
		var s string
		require.NoError(t, st.Result(&s))
		assert.Equal(t, "done", s)
	})

	t.Run("a message that does not decode is dropped, the call goes on", func(t *testing.T) {
		st, err := c.NewStream(ctx, "S.Echo")
		require.NoError(t, err)
		defer st.Close()
		require.NoError(t, st.Send(7))
		var s string
		err = st.Recv(&s)
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
		assert.ErrorIs(t, err, ferry.ErrDropped)
		assert.False(t, ferry.NotExecuted(err))
		require.NoError(t, st.Send(8))
		var v int
		require.NoError(t, st.Recv(&v))
		assert.Equal(t, 8, v, "the next Recv reads the next message")
	})

	t.Run("server.Stream drops an undecodable message with invalid_argument", func(t *testing.T) {
		st, err := c.NewStream(ctx, "S.Echo")
		require.NoError(t, err)
		defer st.Close()
		require.NoError(t, st.Send("not an int"))
		require.NoError(t, st.Send(3.5))
		require.NoError(t, st.Send(9))
		var v int
		require.NoError(t, st.Recv(&v))
		assert.Equal(t, -1, v)
		require.NoError(t, st.Recv(&v))
		assert.Equal(t, -1, v, "3.5 into an int is dropped, never converted")
		require.NoError(t, st.Recv(&v))
		assert.Equal(t, 9, v)
	})

	t.Run("Close", func(t *testing.T) {
		st, err := c.NewStream(ctx, "S.Echo")
		require.NoError(t, err)
		recvd := make(chan error, 1)
		go func() { recvd <- st.Recv(new(int)) }()
		require.NoError(t, st.Send(1))
		require.NoError(t, <-recvd)
		go func() { recvd <- st.Recv(new(int)) }()
		require.NoError(t, st.Close())
		select {
		case err := <-recvd:
			assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "a Recv in flight: %v", err)
			assert.ErrorIs(t, err, ferry.ErrClosed)
		case <-time.After(5 * time.Second):
			t.Fatal("Recv did not return after Close")
		}
		err = st.Send(2)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
		assert.ErrorIs(t, err, ferry.ErrClosed)
		err = st.Recv(new(int))
		assert.ErrorIs(t, err, ferry.ErrClosed)
	})

	t.Run("ctx canceled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		st, err := c.NewStream(cctx, "S.Echo")
		require.NoError(t, err)
		defer st.Close()
		require.NoError(t, st.Send(1))
		cancel()
		err = st.Recv(new(int))
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "a Recv returns no message that had arrived before: %v", err)
		assert.ErrorIs(t, err, context.Canceled)
		err = st.Send(2)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(st.CloseSend()))
	})
}

// TestVaudit24StreamDeadline: "when ctx's deadline passes, Send and Recv
// return CodeDeadlineExceeded and the handler's context reports
// context.DeadlineExceeded"; "If ctx's deadline passes before the handler
// returns, the caller gets CodeDeadlineExceeded whatever it returns."
func TestVaudit24StreamDeadline(t *testing.T) {
	s := newServer(t)
	seen := make(chan error, 1)
	require.NoError(t, s.HandleStream("S.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		<-ctx.Done()
		seen <- ctx.Err()
		return "ok anyway", nil
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	st, err := c.NewStream(ctx, "S.Wait")
	require.NoError(t, err)
	defer st.Close()
	err = st.Recv(new(int))
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(st.Send(1)))
	select {
	case err := <-seen:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end")
	}
}

// TestVaudit24ServerStreamCtx: server.Stream's Recv and Send once the
// handler's context ended: CodeCanceled, and Context ends with
// context.Canceled when the caller cancels.
func TestVaudit24ServerStreamCtx(t *testing.T) {
	s := newServer(t)
	type result struct {
		ctxErr, recv, send error
	}
	got := make(chan result, 1)
	arrived := make(chan struct{})
	require.NoError(t, s.HandleStream("S.Cancel", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var v int
		if err := st.Recv(&v); err != nil {
			return nil, err
		}
		close(arrived)
		<-st.Context().Done()
		got <- result{st.Context().Err(), st.Recv(&v), st.Send(1)}
		return nil, nil
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	st, err := c.NewStream(ctx, "S.Cancel")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(1))
	require.NoError(t, st.Send(2)) // arrives before the cancel: Recv must not return it
	<-arrived
	cancel()
	select {
	case r := <-got:
		assert.ErrorIs(t, r.ctxErr, context.Canceled)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(r.recv), "%v", r.recv)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(r.send), "%v", r.send)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end")
	}
}

// TestVaudit24TypedHelpers: the typed openers and handlers, each kind.
func TestVaudit24TypedHelpers(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.HandleServerStream(s, "T.Count", func(ctx context.Context, req *int, send func(*int) error) error {
		for i := 1; i <= *req; i++ {
			if err := send(&i); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, server.HandleClientStream(s, "T.Sum", func(ctx context.Context, recv func() (*int, error)) (*int, error) {
		sum := 0
		for {
			v, err := recv()
			if err == io.EOF {
				return &sum, nil
			}
			if err != nil {
				return nil, err
			}
			sum += *v
		}
	}))
	require.NoError(t, server.HandleBidi(s, "T.Double", func(ctx context.Context, b *server.BidiStream[int, int]) error {
		for {
			v, err := b.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			*v *= 2
			if err := b.Send(v); err != nil {
				return err
			}
		}
	}))
	c := dialTCP(t, s)
	ctx := t.Context()

	three := 3
	r, err := client.OpenServerStream[int, int](ctx, c, "T.Count", &three)
	require.NoError(t, err)
	var got []int
	for range 10 {
		v, err := r.Recv()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		got = append(got, *v)
	}
	assert.Equal(t, []int{1, 2, 3}, got)
	require.NoError(t, r.Close())

	w, err := client.OpenClientStream[int, int](ctx, c, "T.Sum")
	require.NoError(t, err)
	for i := 1; i <= 4; i++ {
		require.NoError(t, w.Send(&i))
	}
	sum, err := w.CloseAndRecv()
	require.NoError(t, err)
	assert.Equal(t, 10, *sum)
	require.NoError(t, w.Close())

	b, err := client.OpenBidi[int, int](ctx, c, "T.Double")
	require.NoError(t, err)
	for i := 1; i <= 3; i++ {
		require.NoError(t, b.Send(&i))
		v, err := b.Recv()
		require.NoError(t, err)
		assert.Equal(t, 2*i, *v)
	}
	require.NoError(t, b.CloseSend())
	_, err = b.Recv()
	assert.Equal(t, io.EOF, err)
	require.NoError(t, b.Close())

	// HandleServerStream: "a stream that ends without one gets
	// CodeInvalidArgument".
	st, err := c.NewStream(ctx, "T.Count")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.CloseSend())
	err = st.Recv(new(int))
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
}
