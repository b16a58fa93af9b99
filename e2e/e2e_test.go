package e2e_test

import (
	"context"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(probeEnv); addr != "" {
		os.Exit(serveProbes(addr, os.Stdin, os.Stdout)) // the siege's fresh client
	}
	goleak.VerifyTestMain(cleanupM{m})
}

func TestCallStyles(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		notified := make(chan int64, 1)
		require.NoError(t, server.Handle(s, "Log.Note", func(ctx context.Context, n *int64) (*struct{}, error) {
			notified <- *n
			return nil, nil
		}))
		c := tr.dial(t, s)
		ctx := t.Context()

		var sum int64
		require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 3, B: 4}, &sum))
		assert.Equal(t, int64(7), sum)

		calls := make([]*ferry.Call, 100)
		for i := range calls {
			calls[i] = c.Go(ctx, "Arith.Add", testsvc.Args{A: int64(i), B: 1}, new(int64))
		}
		for i, call := range calls {
			require.NoError(t, call.Wait())
			assert.Equal(t, int64(i+1), *call.Reply.(*int64))
		}

		require.NoError(t, c.Notify(ctx, "Log.Note", int64(42)))
		assert.Equal(t, int64(42), <-notified)

		got, err := client.Invoke[int64](ctx, c, "Arith.Add", testsvc.Args{A: 1, B: 1})
		require.NoError(t, err)
		assert.Equal(t, int64(2), *got)
		f := client.Async[int64](ctx, c, "Arith.Div", testsvc.Args{A: -7, B: 2})
		<-f.Done()
		q, err := f.Wait()
		require.NoError(t, err)
		assert.Equal(t, int64(-3), *q)
	})
}

func TestErrors(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		require.NoError(t, server.Handle(s, "Err.Typed", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
			return nil, ferry.Errorf(ferry.CodeNotFound, "user %d missing", 42).WithDetail("table", "users")
		}))
		c := tr.dial(t, s)
		ctx := t.Context()

		err := c.Call(ctx, "Err.Typed", struct{}{}, nil)
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "user 42 missing", fe.Message)
		if tr.plain {
			// Spec-only peers get the message alone.
			assert.Equal(t, ferry.CodeUnknown, fe.Code)
		} else {
			assert.Equal(t, ferry.CodeNotFound, fe.Code)
			assert.Equal(t, map[string]string{"table": "users"}, fe.Details)
		}

		err = c.Call(ctx, "Echo.Fail", struct{}{}, nil)
		assert.Equal(t, ferry.CodeUnknown, ferry.CodeOf(err))
		assert.Contains(t, err.Error(), testsvc.ErrPlain.Error())

		err = c.Call(ctx, "No.Such", nil, nil)
		require.ErrorAs(t, err, &fe)
		assert.Contains(t, fe.Message, `unknown method "No.Such"`)
		if !tr.plain {
			assert.Equal(t, ferry.CodeUnimplemented, fe.Code)
		}

		err = c.Call(ctx, "Arith.Add", "not a struct", nil)
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, `Arith.Add: argument 1 (A): want an integer, got "not a struct"`, fe.Message)
		if !tr.plain {
			assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
		}

		for range 3 {
			err = c.Call(ctx, "Echo.Panic", struct{}{}, nil)
			require.ErrorAs(t, err, &fe)
			assert.Contains(t, fe.Message, "panicked")
		}
		var sum int64
		require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 1, B: 2}, &sum), "the server keeps serving after panics")
		assert.Equal(t, int64(3), sum)

		err = c.Call(ctx, "Arith.Add", testsvc.Args{A: 1, B: 2}, new(string))
		assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "a result that does not fit the reply")
	})
}

func TestDeadlineCrossesTheWire(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Time.Left", func(ctx context.Context, _ *struct{}) (*int64, error) {
		dl, ok := ctx.Deadline()
		if !ok {
			return nil, ferry.NewError(ferry.CodeFailedPrecondition, "no deadline")
		}
		left := int64(time.Until(dl))
		return &left, nil
	}))
	c := dialTCP(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var left int64
	require.NoError(t, c.Call(ctx, "Time.Left", struct{}{}, &left))
	assert.Greater(t, left, int64(0))
	assert.LessOrEqual(t, left, int64(5*time.Second))

	short, cancel2 := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel2()
	err := c.Call(short, "Echo.Sleep", int64(10_000), nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))

	expired, cancel3 := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel3()
	err = c.Call(expired, "Arith.Add", testsvc.Args{}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, ferry.NotExecuted(err))
}

// TestCancelPropagation measures how long a caller's cancel takes to reach
// the handler's ctx over loopback TCP, over 1,000 trials.
func TestCancelPropagation(t *testing.T) {
	s := newServer(t)
	b := newBlocker()
	require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
	c := dialTCP(t, s)
	const trials = 1000
	delays := make([]time.Duration, 0, trials)
	for range trials {
		ctx, cancel := context.WithCancel(t.Context())
		call := c.Go(ctx, "Block.Wait", struct{}{}, nil)
		<-b.started
		t0 := time.Now()
		cancel()
		<-call.Done()
		require.ErrorIs(t, call.Err(), context.Canceled)
		require.ErrorIs(t, <-b.ended, context.Canceled)
		delays = append(delays, time.Since(t0))
	}
	p50, p99 := percentile(delays, 0.50), percentile(delays, 0.99)
	t.Logf("cancel propagation over %d trials: p50=%v p99=%v max=%v", trials, p50, p99, percentile(delays, 1))
	assert.LessOrEqual(t, p99, 100*time.Millisecond)
}

func TestCancelSyncCallReturnsAtOnce(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		b := newBlocker()
		require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
		c := tr.dial(t, s)
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- c.Call(ctx, "Block.Wait", struct{}{}, nil) }()
		<-b.started
		cancel()
		err := <-errc
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
		if !tr.plain {
			require.ErrorIs(t, <-b.ended, context.Canceled)
		}
	})
}

func TestMetadata(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Md.Get", func(ctx context.Context, key *string) (*string, error) {
		// One key alone first (read from the metadata as it arrived),
		// then the map; both agree.
		one, found := ferry.IncomingMetadataValue(ctx, *key)
		v, ok := ferry.IncomingMetadata(ctx)[*key]
		if found != ok || one != v {
			return nil, ferry.Errorf(ferry.CodeInternal, "IncomingMetadataValue says %q, %v; the map %q, %v", one, found, v, ok)
		}
		if !ok {
			return nil, ferry.Errorf(ferry.CodeNotFound, "no %q", *key)
		}
		return &v, nil
	}))
	c := dialPipe(t, s)
	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"tenant": "acme", "trace": "1"})
	ctx = ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"trace": "2"})
	var v string
	require.NoError(t, c.Call(ctx, "Md.Get", "tenant", &v))
	assert.Equal(t, "acme", v)
	require.NoError(t, c.Call(ctx, "Md.Get", "trace", &v))
	assert.Equal(t, "2", v)
	err := c.Call(t.Context(), "Md.Get", "tenant", &v)
	assert.Equal(t, ferry.CodeNotFound, ferry.CodeOf(err))
}

func TestInterceptors(t *testing.T) {
	var mu sync.Mutex
	var order []string
	record := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	si := func(name string) ferry.ServerInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			record("server " + name + " " + info.Method)
			if info.Method == "Arith.Div" {
				return nil, ferry.NewError(ferry.CodePermissionDenied, "denied")
			}
			return next(ctx, args)
		}
	}
	ci := func(name string) ferry.ClientInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			record("client " + name + " " + info.Method)
			return next(ctx, info, args, reply)
		}
	}
	s := newServer(t, server.WithInterceptors(si("a"), si("b")))
	c := dialPipe(t, s, client.WithInterceptors(ci("x"), ci("y")))
	var sum int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 1}, &sum))
	err := c.Call(t.Context(), "Arith.Div", testsvc.Args{A: 1, B: 1}, &sum)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
	call := c.Go(t.Context(), "Arith.Add", testsvc.Args{A: 2, B: 2}, &sum)
	require.NoError(t, call.Wait())
	assert.Equal(t, int64(4), sum)
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{
		"client x Arith.Add", "client y Arith.Add", "server a Arith.Add", "server b Arith.Add",
		"client x Arith.Div", "client y Arith.Div", "server a Arith.Div",
		"client x Arith.Add", "client y Arith.Add", "server a Arith.Add", "server b Arith.Add",
	}, order)
}

func TestConcurrencyLimitQueuesThenRefuses(t *testing.T) {
	s := newServer(t, server.WithMaxConcurrentCalls(2))
	b := newBlocker()
	require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
	c := dialTCP(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	running := []*ferry.Call{
		c.Go(ctx, "Block.Wait", struct{}{}, nil),
		c.Go(ctx, "Block.Wait", struct{}{}, nil),
	}
	<-b.started
	<-b.started
	// Two more wait in the queue...
	var sums [2]int64
	queued := []*ferry.Call{
		c.Go(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 1}, &sums[0]),
		c.Go(t.Context(), "Arith.Add", testsvc.Args{A: 2, B: 2}, &sums[1]),
	}
	// ...and the next is refused as not executed. Calls on one stream are
	// read in order, so this one arrives after the queued ones.
	err := c.Call(t.Context(), "Arith.Add", testsvc.Args{}, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
	for _, q := range queued {
		select {
		case <-q.Done():
			t.Fatalf("a queued call ran while every slot was taken: %v", q.Err())
		default:
		}
	}
	cancel()
	for _, r := range running {
		require.ErrorIs(t, r.Wait(), context.Canceled)
	}
	<-b.ended
	<-b.ended
	for _, q := range queued {
		require.NoError(t, q.Wait(), "queued calls run once slots free up")
	}
	assert.Equal(t, [2]int64{2, 4}, sums)
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{}, nil), "slots come back")
}

func TestClientCloseFailsInFlightCalls(t *testing.T) {
	eachConduit(t, func(t *testing.T, tr conduit) {
		s := newServer(t)
		b := newBlocker()
		require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
		c := tr.dial(t, s)
		call := c.Go(t.Context(), "Block.Wait", struct{}{}, nil)
		<-b.started
		require.NoError(t, c.Close())
		<-call.Done()
		require.ErrorIs(t, call.Err(), ferry.ErrClosed)
		err := c.Call(t.Context(), "Arith.Add", testsvc.Args{}, nil)
		require.ErrorIs(t, err, ferry.ErrClosed)
		assert.True(t, ferry.NotExecuted(err))
		if !tr.plain {
			// The session ends, so the server cancels the handler at once.
			// (A bare TCP peer's close looks like a half-close: its
			// handlers get a grace period to answer, then the server's
			// Close at cleanup cancels them.)
			<-b.ended
		}
	})
}

func TestServerCloseFailsInFlightCalls(t *testing.T) {
	s := newServer(t)
	b := newBlocker()
	require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
	c := dialTCP(t, s)
	calls := make([]*ferry.Call, 16)
	for i := range calls {
		calls[i] = c.Go(t.Context(), "Block.Wait", struct{}{}, nil)
	}
	for range calls {
		<-b.started
	}
	require.NoError(t, s.Close())
	for _, call := range calls {
		require.Error(t, call.Wait())
		code := ferry.CodeOf(call.Err())
		assert.Contains(t, []ferry.Code{ferry.CodeUnavailable, ferry.CodeCanceled}, code, "%v", call.Err())
		assert.False(t, ferry.NotExecuted(call.Err()), "the handler ran: outcome unknown")
	}
	<-c.Done()
}

func TestShutdownIsGraceful(t *testing.T) {
	s := newServer(t)
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	require.NoError(t, server.Handle(s, "Slow.Work", func(ctx context.Context, _ *struct{}) (*string, error) {
		started <- struct{}{}
		<-release
		r := "finished"
		return &r, nil
	}))
	c := dialTCP(t, s)
	var got string
	inflight := c.Go(t.Context(), "Slow.Work", struct{}{}, &got)
	<-started
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- s.Shutdown(t.Context()) }()
	// New calls are refused as not executed once the go-away arrives.
	require.Eventually(t, func() bool {
		err := c.Call(t.Context(), "Arith.Add", testsvc.Args{}, nil)
		return ferry.NotExecuted(err) && ferry.CodeOf(err) == ferry.CodeUnavailable
	}, 5*time.Second, time.Millisecond)
	<-c.GoingAway()
	close(release)
	require.NoError(t, inflight.Wait())
	assert.Equal(t, "finished", got)
	require.NoError(t, <-shutdownDone)
	<-c.Done()
}

func TestShutdownForcesWhenCtxEnds(t *testing.T) {
	s := newServer(t)
	b := newBlocker()
	require.NoError(t, server.Handle(s, "Block.Wait", b.handle))
	c := dialTCP(t, s)
	call := c.Go(t.Context(), "Block.Wait", struct{}{}, nil)
	<-b.started
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	err := s.Shutdown(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.ErrorIs(t, <-b.ended, context.Canceled)
	require.Error(t, call.Wait())
}

func TestGoNeverDropsResults(t *testing.T) {
	s := newServer(t)
	c := dialTCP(t, s)
	const n = 2000
	calls := make([]*ferry.Call, n)
	for i := range calls {
		calls[i] = c.Go(t.Context(), "Arith.Add", testsvc.Args{A: int64(i), B: int64(i)}, new(int64))
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ { // several waiters on the same calls
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, call := range calls {
				<-call.Done()
			}
		}()
	}
	wg.Wait()
	for i, call := range calls {
		require.NoError(t, call.Err())
		assert.Equal(t, int64(2*i), *call.Reply.(*int64))
	}
}

func TestRegisterRejectsBadShapes(t *testing.T) {
	s := server.New()
	err := s.RegisterName("Bad", &badService{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NoReply")
	assert.Contains(t, err.Error(), "WrongReturn")
	require.NoError(t, s.RegisterName("Math", testsvc.Arith{}))
	err = s.RegisterName("Math", testsvc.Arith{})
	assert.ErrorContains(t, err, "already registered")
	require.Error(t, s.Register(struct{}{}))
	require.Error(t, server.Handle(s, "$ferry.x", func(context.Context, *int) (*int, error) { return nil, nil }))
	require.NoError(t, s.Close())
}

type badService struct{}

func (*badService) NoReply(ctx context.Context, a int) error           { return nil }
func (*badService) WrongReturn(ctx context.Context, a int, r *int) int { return 0 }
func (*badService) Fine(a int, r *int) error                           { return nil }

func TestNetRPCShapeWithoutContext(t *testing.T) {
	s := server.New()
	require.ErrorContains(t, s.Register(&legacy{}), "not exported")
	require.NoError(t, s.RegisterName("legacy", &legacy{}))
	t.Cleanup(func() { s.Close() })
	c := dialPipe(t, s)
	var out string
	require.NoError(t, c.Call(t.Context(), "legacy.Upper", "abc", &out))
	assert.Equal(t, "ABC", out)
}

type legacy struct{}

func (*legacy) Upper(in string, out *string) error {
	b := []byte(in)
	for i := range b {
		if b[i] >= 'a' && b[i] <= 'z' {
			b[i] -= 32
		}
	}
	*out = string(b)
	return nil
}

func TestInvalidOptions(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 1
	_, err := client.Dial(t.Context(), "127.0.0.1:1", client.WithConfig(cfg))
	require.ErrorContains(t, err, "MaxMessageSize")
	s := server.New(server.WithMaxConcurrentCalls(0))
	a, b := net.Pipe()
	defer a.Close()
	require.ErrorContains(t, s.ServeConn(b), "max concurrent calls")
	require.ErrorContains(t, s.Serve(nil), "max concurrent calls")
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}
