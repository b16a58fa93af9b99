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
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sessionConduits are the conduits that carry streaming calls.
var sessionConduits = conduits[:2]

func eachSessionConduit(t *testing.T, body func(t *testing.T, tr conduit)) {
	for _, tr := range sessionConduits {
		t.Run(tr.name, func(t *testing.T) { body(t, tr) })
	}
}

// TestStreamSendAfterCloseSend: Send after CloseSend sends nothing and
// says so; so does Send after the call finished.
func TestStreamSendAfterCloseSend(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		c := tr.dial(t, streamServer(t))
		st, err := c.NewStream(t.Context(), "Num.Double")
		require.NoError(t, err)
		defer st.Close()
		require.NoError(t, st.Send(&num{1}))
		require.NoError(t, st.CloseSend())
		err = st.Send(&num{2})
		require.Error(t, err)
		assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "%v", err)
		assert.False(t, ferry.NotExecuted(err))
		require.NoError(t, st.CloseSend(), "a second CloseSend does nothing")

		// The server got exactly the one message sent before CloseSend.
		var m num
		require.NoError(t, st.Recv(&m))
		assert.Equal(t, 2, m.N)
		require.Equal(t, io.EOF, st.Recv(&m))
		err = st.Send(&num{3})
		assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "%v", err)
	})
}

// deadlineHandlers registers streaming handlers that outlive any deadline
// and report their ctx's error: one blocked in Recv, one blocked in Send
// (the caller does not read), one that only waits for ctx.
func deadlineHandlers(t *testing.T, s *server.Server) chan error {
	ended := make(chan error, 16)
	require.NoError(t, s.HandleStream("Wait.Recv", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var v any
		err := st.Recv(&v)
		ended <- ctx.Err()
		if err != nil && !errors.Is(err, ctx.Err()) {
			return nil, ferry.Errorf(ferry.CodeInternal, "Recv said %v, ctx %v", err, ctx.Err())
		}
		return nil, err
	}))
	require.NoError(t, s.HandleStream("Wait.Send", server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
		chunk := make([]byte, 32<<10)
		for range 1 << 16 { // far more than any window holds
			if err := st.Send(chunk); err != nil {
				ended <- ctx.Err()
				if ferry.CodeOf(err) != ferry.CodeOf(ctx.Err()) {
					return nil, ferry.Errorf(ferry.CodeInternal, "Send said %v, ctx %v", err, ctx.Err())
				}
				return nil, err
			}
		}
		ended <- errors.New("Send never blocked")
		return nil, nil
	}))
	require.NoError(t, s.HandleStream("Wait.Ctx", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return true, nil // too late: the caller gets the deadline
	}))
	return ended
}

// TestStreamDeadline: when the caller's deadline passes, the caller's Recv
// says deadline_exceeded and the handler's ctx says DeadlineExceeded, as
// for a unary call; whatever the handler was doing, over many rounds.
func TestStreamDeadline(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		ended := deadlineHandlers(t, s)
		c := tr.dial(t, s)
		const rounds = 10
		trials, slowOpens := 0, 0
		defer func() {
			t.Logf("%d deadline trials, %d opens too slow to leave before the deadline", trials, slowOpens)
		}()
		for round := range rounds {
			for _, method := range []string{"Wait.Recv", "Wait.Send", "Wait.Ctx"} {
				ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
				st, err := c.NewStream(ctx, method)
				if err != nil { // a slow open: the deadline passed before the call left
					assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
					assert.True(t, ferry.NotExecuted(err))
					cancel()
					slowOpens++
					continue
				}
				trials++
				if method == "Wait.Send" {
					<-ctx.Done() // the handler fills the window meanwhile
				}
				var err2 error
				for i := 0; err2 == nil && i < 1<<16; i++ {
					err2 = st.Recv(nil)
				}
				require.Error(t, err2)
				assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err2), "round %d %s: %v", round, method, err2)
				assert.ErrorIs(t, err2, context.DeadlineExceeded)
				assert.False(t, ferry.NotExecuted(err2))
				select {
				case got := <-ended:
					assert.Equal(t, context.DeadlineExceeded, got, "round %d %s: the handler's ctx.Err()", round, method)
				case <-time.After(10 * time.Second):
					t.Fatalf("round %d %s: the handler never ended", round, method)
				}
				// Later calls return the same error; Close is harmless.
				assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(st.Recv(nil)))
				assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(st.Send(1)))
				require.NoError(t, st.Close())
				cancel()
			}
		}
	})
}

// deadlineOnly reports a deadline but never ends by itself, so only the
// server enforces the deadline: its status must say so.
type deadlineOnly struct {
	context.Context
	dl time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.dl, true }

// TestStreamDeadlineStatusFromServer: the server that enforces a deadline
// tells the caller deadline_exceeded instead of dropping the stream.
func TestStreamDeadlineStatusFromServer(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		ended := deadlineHandlers(t, s)
		c := tr.dial(t, s)
		for round := range 10 {
			ctx := deadlineOnly{t.Context(), time.Now().Add(20 * time.Millisecond)}
			st, err := c.NewStream(ctx, "Wait.Ctx")
			require.NoError(t, err)
			err = st.Recv(nil)
			require.True(t, ferry.CodeOf(err) != 0, "round %d: %v", round, err)
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "round %d: %v", round, err)
			assert.Equal(t, "the call's deadline passed", ferry.FromError(err).Message)
			assert.Equal(t, context.DeadlineExceeded, <-ended)
			require.NoError(t, st.Close())
		}
	})
}

// TestStreamRefusedIsNotExecuted: a stream refused by the server's
// concurrency limit carries NotExecuted, so a caller may retry it.
func TestStreamRefusedIsNotExecuted(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t, server.WithMaxConcurrentCalls(1))
		started := make(chan struct{}, 1)
		require.NoError(t, s.HandleStream("Block.Stream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}))
		c := tr.dial(t, s)
		first, err := c.NewStream(t.Context(), "Block.Stream")
		require.NoError(t, err)
		<-started
		for range 5 {
			second, err := c.NewStream(t.Context(), "Block.Stream")
			require.NoError(t, err)
			err = second.Recv(nil)
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)
			require.NoError(t, second.Close())
		}
		// An unknown method ran no handler: flagged too.
		st, err := c.NewStream(t.Context(), "No.Such")
		require.NoError(t, err)
		err = st.Recv(nil)
		assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
		assert.True(t, ferry.NotExecuted(err))
		require.NoError(t, first.Close())
	})
}

// TestStreamServerMessageLimit: a message over the server's
// MaxMessageSize, which the server told in its answer to the client's
// hello (PROTOCOL.md 4, "Message size limits"), is refused by the
// client's Send with resource_exhausted, the code the client's own limit
// gives, before anything is sent: the stream stays usable. (A frame over
// the server's limit from a peer that said nothing ends the call with
// that status as the server reads it: TestVlimits17RawStreamOverLimit.)
func TestStreamServerMessageLimit(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		cfg := transport.DefaultConfig()
		cfg.MaxMessageSize = 64 << 10
		s := streamServer(t, server.WithConfig(cfg))
		c := tr.dial(t, s)
		st, err := c.NewStream(t.Context(), "Num.Double")
		require.NoError(t, err)
		err = st.Send(make([]byte, 128<<10))
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
		assert.Contains(t, err.Error(), "the peer's 65536-byte limit")
		require.NoError(t, st.Send(&num{3}), "the stream is still usable")
		var got num
		require.NoError(t, st.Recv(&got))
		assert.Equal(t, 6, got.N)
		require.NoError(t, st.Close())

		// The client's own limit: the same code, before anything is sent.
		st, err = c.NewStream(t.Context(), "Num.Double")
		require.NoError(t, err)
		err = st.Send(make([]byte, 5<<20))
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
		require.NoError(t, st.Send(&num{4}), "the stream is still usable")
		var m num
		require.NoError(t, st.Recv(&m))
		assert.Equal(t, 8, m.N)
		require.NoError(t, st.Close())
	})
}

// TestStreamClientMessageLimit: a message over the client's
// MaxMessageSize, which the client told in its hello, is refused by the
// handler's Send with resource_exhausted before anything is sent; a
// handler that passes the error on gives the caller that status. (A
// frame over the client's limit from a server that said nothing ends the
// call as the client reads it: TestAttackVaudit14StreamMessages.)
func TestStreamClientMessageLimit(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		ended := make(chan error, 1)
		require.NoError(t, s.HandleStream("Big", server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
			err := st.Send(make([]byte, 128<<10))
			ended <- err
			return nil, err
		}))
		cfg := transport.DefaultConfig()
		cfg.MaxMessageSize = 64 << 10
		c := tr.dial(t, s, client.WithConfig(cfg))
		st, err := c.NewStream(t.Context(), "Big")
		require.NoError(t, err)
		err = st.Recv(nil)
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
		select {
		case got := <-ended:
			assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(got), "the handler's Send: %v", got)
			assert.Contains(t, got.Error(), "the peer's 65536-byte limit")
		case <-time.After(10 * time.Second):
			t.Fatal("the handler's Send did not return")
		}
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(st.Recv(nil)), "later calls say the same")
		require.NoError(t, st.Close())
	})
}

// TestStreamAndCallStatusAgree: the same handler error reaches a unary
// caller and a stream caller as the same *ferry.Error.
func TestStreamAndCallStatusAgree(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		errs := []error{
			ferry.NewError(ferry.CodeNotFound, "no such thing").WithDetail("key", "k1"),
			errors.New("plain failure"),
			ferry.NewError(ferry.CodeAborted, ""),
			ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "try elsewhere")),
		}
		var which int
		require.NoError(t, server.Handle(s, "Fail.Unary", func(ctx context.Context, i *int) (*int, error) { return nil, errs[*i] }))
		require.NoError(t, s.HandleStream("Fail.Stream", server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
			if err := st.Recv(&which); err != nil {
				return nil, err
			}
			return nil, errs[which]
		}))
		c := tr.dial(t, s)
		for i := range errs {
			callErr := c.Call(t.Context(), "Fail.Unary", &i, nil)
			rd, err := client.OpenServerStream[int, int](t.Context(), c, "Fail.Stream", &i)
			require.NoError(t, err)
			_, streamErr := rd.Recv()
			require.NoError(t, rd.Close())
			var ce, se *ferry.Error
			require.ErrorAs(t, callErr, &ce)
			require.ErrorAs(t, streamErr, &se)
			assert.Equal(t, ce.Code, se.Code, "case %d", i)
			assert.Equal(t, ce.Message, se.Message, "case %d", i)
			assert.Equal(t, ce.Details, se.Details, "case %d", i)
			assert.Equal(t, ferry.NotExecuted(ce), ferry.NotExecuted(se), "case %d", i)
			assert.Equal(t, ferry.FromError(errs[i]).Code, se.Code, "case %d", i)
		}
	})
}

// TestUntypedServerStream: an untyped caller of a ServerStream method sends
// its single request with Send and CloseSend; the kind changes nothing
// else at run time (the handler may read more, the server reports it).
func TestUntypedServerStream(t *testing.T) {
	eachSessionConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		require.NoError(t, s.HandleStream("Count.To", server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
			var n int
			if err := st.Recv(&n); err != nil {
				return nil, err
			}
			var extra int
			if err := st.Recv(&extra); err != io.EOF {
				return nil, ferry.Errorf(ferry.CodeInvalidArgument, "one request expected, then %v", err)
			}
			for i := 1; i <= n; i++ {
				if err := st.Send(i); err != nil {
					return nil, err
				}
			}
			return n, nil
		}))
		for _, m := range s.Methods() {
			if m.Name == "Count.To" {
				assert.Equal(t, "server", m.Kind)
			}
		}
		c := tr.dial(t, s)
		st, err := c.NewStream(t.Context(), "Count.To")
		require.NoError(t, err)
		require.NoError(t, st.Send(3))
		require.NoError(t, st.CloseSend())
		var got []int
		for {
			var v int
			err := st.Recv(&v)
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, v)
		}
		assert.Equal(t, []int{1, 2, 3}, got)
		var n int
		require.NoError(t, st.Result(&n))
		assert.Equal(t, 3, n)
	})
}
