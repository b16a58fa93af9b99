package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// drainArgs names one call, so the handler can say which calls it ran.
type drainArgs struct{ ID uint64 }

// callTimeout bounds every call of the drain tests: one that takes this
// long never ended, and fails its round.
const callTimeout = 20 * time.Second

// drainOutcome is what one round of calls under a shutdown came to.
type drainOutcome struct {
	calls       int // calls made
	ok          int // succeeded
	notExecuted int // failed, ferry.NotExecuted true
	maybe       int // failed with the outcome unknown
	ran         int // handlers started
	maybeRan    int // failed with the outcome unknown, and the handler ran
	refused     int // failed with the message "the server is shutting down"
	// Broken promises: a call reported not executed whose handler ran, a
	// call whose handler never ran that did not say so, a success without
	// a handler.
	ranButNotExecuted, notRunButMaybe, okNotRun, ranMaybe []string
	hung                                                  int // calls that never ended (callTimeout)
}

func (o drainOutcome) String() string {
	return fmt.Sprintf("%d calls: %d ok, %d not executed, %d maybe executed (%d never ended); %d handlers ran",
		o.calls, o.ok, o.notExecuted, o.maybe, o.hung, o.ran)
}

// drainRound runs callers goroutines calling one client as fast as they
// can, shuts the server down with budget once after handlers have run, and
// compares every caller's result with what the handlers saw. work runs in
// every handler.
func drainRound(t *testing.T, callers, after int, budget time.Duration, plain bool, work func(ctx context.Context, id uint64) error) drainOutcome {
	t.Helper()
	s := server.New()
	var (
		mu      sync.Mutex
		started = map[uint64]bool{}
		trigger = make(chan struct{})
		nran    atomic.Int64
	)
	require.NoError(t, server.Handle(s, "Count.Do", func(ctx context.Context, a *drainArgs) (*uint64, error) {
		mu.Lock()
		started[a.ID] = true
		mu.Unlock()
		if nran.Add(1) == int64(after) {
			close(trigger)
		}
		if err := work(ctx, a.ID); err != nil {
			return nil, err
		}
		return &a.ID, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	var opts []client.Option
	if plain {
		opts = append(opts, client.WithPlainMsgpackRPC())
	}
	c, err := client.Dial(t.Context(), l.Addr().String(), opts...)
	require.NoError(t, err)
	defer c.Close()

	type result struct {
		id  uint64
		err error
	}
	var (
		nextID  atomic.Uint64
		results = make([][]result, callers)
		wg      sync.WaitGroup
		stop    = time.Now().Add(20 * time.Second)
	)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100_000 {
				id := nextID.Add(1)
				var got uint64
				ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
				err := c.Call(ctx, "Count.Do", drainArgs{ID: id}, &got)
				cancel()
				results[g] = append(results[g], result{id, err})
				if err == nil && got != id {
					results[g][len(results[g])-1].err = fmt.Errorf("reply %d for call %d", got, id)
				}
				if err != nil {
					select {
					case <-c.Done():
						return
					case <-c.GoingAway():
						return // new calls are refused from now on
					default:
					}
				}
				if time.Now().After(stop) {
					return
				}
			}
		}()
	}
	select {
	case <-trigger:
	case <-time.After(10 * time.Second):
		t.Fatal("the handlers never ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	_ = s.Shutdown(ctx)
	cancel()
	wg.Wait()
	require.ErrorIs(t, <-served, server.ErrServerClosed)

	var o drainOutcome
	mu.Lock()
	defer mu.Unlock()
	o.ran = len(started)
	for _, rs := range results {
		for _, r := range rs {
			o.calls++
			ran := started[r.id]
			switch {
			case r.err == nil:
				o.ok++
				if !ran {
					o.okNotRun = append(o.okNotRun, fmt.Sprint(r.id))
				}
			case ferry.NotExecuted(r.err):
				o.notExecuted++
				if ran {
					o.ranButNotExecuted = append(o.ranButNotExecuted, fmt.Sprintf("%d: %v", r.id, r.err))
				}
			default:
				if ferry.CodeOf(r.err) == ferry.CodeDeadlineExceeded {
					o.hung++
				}
				o.maybe++
				if strings.Contains(r.err.Error(), "the server is shutting down") {
					o.refused++
				}
				if ran {
					o.maybeRan++
					o.ranMaybe = append(o.ranMaybe, fmt.Sprintf("%d: %v", r.id, r.err))
				} else {
					o.notRunButMaybe = append(o.notRunButMaybe, fmt.Sprintf("%d: %v", r.id, r.err))
				}
			}
		}
	}
	return o
}

// drainRounds runs up to rounds rounds, within a time bound, and checks
// each: a call whose handler never ran reports ferry.NotExecuted, and a
// call reported not executed never ran. With graceful set, the budget is
// ample, so no call may end with its outcome unknown at all.
func drainRounds(t *testing.T, rounds, maxAfter int, budget time.Duration, graceful bool, work func(context.Context, uint64) error) {
	deadline := time.Now().Add(40 * time.Second)
	var total drainOutcome
	failedRounds := 0
	n := 0
	for n = 0; n < rounds && time.Now().Before(deadline); n++ {
		o := drainRound(t, 16, 16+(n*37)%maxAfter, budget, false, work)
		total.calls += o.calls
		total.ok += o.ok
		total.notExecuted += o.notExecuted
		total.maybe += o.maybe
		total.ran += o.ran
		bad := len(o.ranButNotExecuted) + len(o.notRunButMaybe) + len(o.okNotRun) + o.hung
		if graceful {
			bad += o.maybe
		}
		if bad > 0 {
			failedRounds++
			t.Errorf("round %d: %v", n, o)
			for _, s := range o.ranButNotExecuted[:min(3, len(o.ranButNotExecuted))] {
				t.Errorf("  ran, reported not executed: %s", s)
			}
			for _, s := range o.notRunButMaybe[:min(3, len(o.notRunButMaybe))] {
				t.Errorf("  never ran, not reported as not executed: %s", s)
			}
			for _, s := range o.okNotRun[:min(3, len(o.okNotRun))] {
				t.Errorf("  succeeded, never ran: %s", s)
			}
		}
		assert.Equal(t, o.ran, o.ok+o.maybeRan, "round %d: every handler that ran is a success or unknown", n)
	}
	t.Logf("%d rounds, %d failed; in all %v", n, failedRounds, total)
}

// TestDrainLosesNothing shuts a server down gracefully while 16 goroutines
// call it: every call succeeds or fails as not executed, and a call that
// says it was not executed never ran.
func TestDrainLosesNothing(t *testing.T) {
	rounds := 50
	if testing.Short() {
		rounds = 10
	}
	drainRounds(t, rounds, 300, 3*time.Second, true, func(context.Context, uint64) error {
		runtime.Gosched()
		return nil
	})
}

// TestForcedDrainMarksUnreadCalls shuts a server down with a budget its
// handlers overrun, some of which ignore their context: calls whose
// handlers ran may end with their outcome unknown, but every call no
// handler ran still reports not executed.
func TestForcedDrainMarksUnreadCalls(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	drainRounds(t, rounds, 100, 5*time.Millisecond, false, func(ctx context.Context, id uint64) error {
		work := time.NewTimer(time.Duration(id%7) * 5 * time.Millisecond)
		defer work.Stop()
		if id%3 == 0 { // ignores its context
			<-work.C
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-work.C:
			return nil
		}
	})
}

// TestShutdownReturnsByDeadline: a handler that ignores its context does
// not hold Shutdown past its ctx's deadline (plus the force grace, 100 ms).
func TestShutdownReturnsByDeadline(t *testing.T) {
	for _, kind := range []string{"unary", "stream"} {
		t.Run(kind, func(t *testing.T) {
			s := newServer(t)
			release := make(chan struct{})
			t.Cleanup(func() {
				select {
				case <-release:
				default:
					close(release)
				}
			})
			started := make(chan struct{}, 1)
			require.NoError(t, s.HandleStream("Stuck.Stream", server.Bidi, func(context.Context, *server.Stream) (any, error) {
				started <- struct{}{}
				<-release // ignores its context
				return nil, nil
			}))
			require.NoError(t, server.Handle(s, "Stuck.Call", func(context.Context, *struct{}) (*struct{}, error) {
				started <- struct{}{}
				<-release // ignores its context
				return &struct{}{}, nil
			}))
			c := dialTCP(t, s)
			var callErr chan error
			if kind == "stream" {
				st, err := c.NewStream(t.Context(), "Stuck.Stream")
				require.NoError(t, err)
				defer st.Close()
			} else {
				callErr = make(chan error, 1)
				go func() { callErr <- c.Call(t.Context(), "Stuck.Call", struct{}{}, nil) }()
			}
			<-started
			const budget = 200 * time.Millisecond
			ctx, cancel := context.WithTimeout(t.Context(), budget)
			defer cancel()
			t0 := time.Now()
			err := s.Shutdown(ctx)
			elapsed := time.Since(t0)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Less(t, elapsed, budget+100*time.Millisecond+150*time.Millisecond, "Shutdown returned %v after a %v budget", elapsed, budget)
			if callErr != nil {
				// The handler ran: its caller learns that the outcome is unknown.
				err := <-callErr
				require.Error(t, err)
				assert.False(t, ferry.NotExecuted(err), "%v", err)
			}
			close(release)
		})
	}
}

// TestDrainLosesNoStream is TestDrainLosesNothing for streaming calls:
// streams opened while the server goes away (refused by the session's
// go-away, by the draining connection, or caught by the close) end
// successfully or fail as not executed, and those never ran.
func TestDrainLosesNoStream(t *testing.T) {
	rounds := 30
	if testing.Short() {
		rounds = 5
	}
	deadline := time.Now().Add(40 * time.Second)
	var total drainOutcome
	failedRounds, n := 0, 0
	for n = 0; n < rounds && time.Now().Before(deadline); n++ {
		o := drainStreamRound(t, 8, 8+(n*37)%100)
		total.calls += o.calls
		total.ok += o.ok
		total.notExecuted += o.notExecuted
		total.maybe += o.maybe
		total.ran += o.ran
		if bad := len(o.ranButNotExecuted) + len(o.notRunButMaybe) + len(o.okNotRun) + o.maybe + o.hung; bad > 0 {
			failedRounds++
			t.Errorf("round %d: %v", n, o)
			for _, s := range o.ranButNotExecuted[:min(3, len(o.ranButNotExecuted))] {
				t.Errorf("  ran, reported not executed: %s", s)
			}
			for _, s := range o.notRunButMaybe[:min(3, len(o.notRunButMaybe))] {
				t.Errorf("  never ran, not reported as not executed: %s", s)
			}
		}
	}
	t.Logf("%d rounds, %d failed; in all %v", n, failedRounds, total)
}

func drainStreamRound(t *testing.T, callers, after int) drainOutcome {
	t.Helper()
	s := server.New()
	var (
		mu      sync.Mutex
		started = map[uint64]bool{}
		trigger = make(chan struct{})
		nran    atomic.Int64
	)
	require.NoError(t, server.HandleServerStream(s, "Count.Stream", func(ctx context.Context, a *drainArgs, send func(*uint64) error) error {
		mu.Lock()
		started[a.ID] = true
		mu.Unlock()
		if nran.Add(1) == int64(after) {
			close(trigger)
		}
		return send(&a.ID)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c, err := client.Dial(t.Context(), l.Addr().String())
	require.NoError(t, err)
	defer c.Close()

	type result struct {
		id  uint64
		err error
	}
	var (
		nextID  atomic.Uint64
		results = make([][]result, callers)
		wg      sync.WaitGroup
		stop    = time.Now().Add(20 * time.Second)
	)
	call := func(id uint64) error {
		ctx, cancel := context.WithTimeout(t.Context(), callTimeout)
		defer cancel()
		r, err := client.OpenServerStream[drainArgs, uint64](ctx, c, "Count.Stream", &drainArgs{ID: id})
		if err != nil {
			return err
		}
		defer r.Close()
		got, err := r.Recv()
		if err != nil {
			return err
		}
		if *got != id {
			return fmt.Errorf("message %d for stream %d", *got, id)
		}
		if _, err := r.Recv(); err != io.EOF {
			return fmt.Errorf("stream %d: want io.EOF after the message, got %w", id, err)
		}
		return nil
	}
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100_000 {
				id := nextID.Add(1)
				err := call(id)
				results[g] = append(results[g], result{id, err})
				if err != nil {
					select {
					case <-c.Done():
						return
					default:
					}
				}
				if time.Now().After(stop) {
					return
				}
			}
		}()
	}
	select {
	case <-trigger:
	case <-time.After(10 * time.Second):
		t.Fatal("the handlers never ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	_ = s.Shutdown(ctx)
	cancel()
	wg.Wait()
	require.ErrorIs(t, <-served, server.ErrServerClosed)

	var o drainOutcome
	mu.Lock()
	defer mu.Unlock()
	o.ran = len(started)
	for _, rs := range results {
		for _, r := range rs {
			o.calls++
			ran := started[r.id]
			switch {
			case r.err == nil:
				o.ok++
				if !ran {
					o.okNotRun = append(o.okNotRun, fmt.Sprint(r.id))
				}
			case ferry.NotExecuted(r.err):
				o.notExecuted++
				if ran {
					o.ranButNotExecuted = append(o.ranButNotExecuted, fmt.Sprintf("%d: %v", r.id, r.err))
				}
			default:
				if ferry.CodeOf(r.err) == ferry.CodeDeadlineExceeded {
					o.hung++
				}
				o.maybe++
				if !ran {
					o.notRunButMaybe = append(o.notRunButMaybe, fmt.Sprintf("%d: %v", r.id, r.err))
				}
			}
		}
	}
	return o
}

// TestDrainPlainMsgpackRPC: a spec-only peer (bare MessagePack-RPC, no
// extensions) cannot be told "not executed": during a drain its calls are
// refused with the error string "the server is shutting down" (code
// unknown to it), and calls it sent that the server had not read when it
// closed the connection end with the connection, outcome unknown. (The
// Go client still knows the calls it never sent: those are not executed.)
// What holds: every success ran, every call that ran was answered.
func TestDrainPlainMsgpackRPC(t *testing.T) {
	rounds := 20
	if testing.Short() {
		rounds = 5
	}
	var total drainOutcome
	refusedAsString := 0
	for n := range rounds {
		o := drainRound(t, 16, 16+(n*37)%300, 3*time.Second, true, func(context.Context, uint64) error {
			runtime.Gosched()
			return nil
		})
		total.calls += o.calls
		total.ok += o.ok
		total.notExecuted += o.notExecuted
		total.maybe += o.maybe
		total.ran += o.ran
		refusedAsString += o.refused
		assert.Empty(t, o.okNotRun, "round %d", n)
		assert.Zero(t, o.hung, "round %d: calls that never ended", n)
		assert.Empty(t, o.ranButNotExecuted, "round %d: only calls the client never sent are not executed", n)
		assert.Equal(t, o.ran, o.ok, "round %d: every handler that ran was answered: %v", n, o.ranMaybe[:min(3, len(o.ranMaybe))])
	}
	t.Logf("%d rounds: %v; %d refused with the string %q", rounds, total, refusedAsString, "the server is shutting down")
}
