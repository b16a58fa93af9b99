package cluster_test

// Tests of cluster's doc promises that the other tests leave open.

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// preferred is a balancer that picks the first endpoint of order that is
// ready and not skipped, so that a test knows where each attempt goes.
type preferred []string

func (p preferred) Build(ready []balancer.Endpoint) balancer.Picker { return preferredPicker{p, ready} }

type preferredPicker struct {
	order []string
	ready []balancer.Endpoint
}

func (p preferredPicker) Pick(info *balancer.Info) balancer.Endpoint {
	for _, a := range p.order {
		for _, e := range p.ready {
			if e.Addr() == a && (info.Skip == nil || !info.Skip(e)) {
				return e
			}
		}
	}
	return p.ready[0]
}

// TestAuditIdempotentContext checks Idempotent's "calls [of that context]
// are safe to run more than once, whatever their method: they are retried
// after a broken connection": a call whose connection breaks after its
// handler ran fails when not marked (it ran once), and is retried on the
// other endpoint, and succeeds, when its context is marked.
func TestAuditIdempotentContext(t *testing.T) {
	l := newLedger()
	var breakNext atomic.Bool
	mk := func(name string) *node {
		return startNodeWith(t, name, func(n *node) []server.Option {
			return []server.Option{server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				if info.Method == "Svc.Work" && breakNext.CompareAndSwap(true, false) {
					ctx = context.WithValue(ctx, midHandlerFault{}, true)
				}
				return next(ctx, args)
			})}
		}, func(n *node) { n.ledger = l })
	}
	a, b := mk("a"), mk("b")
	cl := newClient(t, resolver.Static(addrs(a, b)...), cluster.WithBalancer(preferred{a.addr, b.addr}), cluster.WithCircuitBreaker(0, 0))
	waitReady(t, cl, 2)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	breakNext.Store(true)
	err := cl.Call(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"call-id": "plain"}), "Svc.Work", struct{}{}, new(bool))
	require.Error(t, err, "a call that may have run is not retried")
	assert.False(t, ferry.NotExecuted(err), "%v", err)
	assert.Equal(t, 1, l.count("plain"))

	waitReady(t, cl, 2)
	breakNext.Store(true)
	var ok bool
	require.NoError(t, cl.Call(cluster.Idempotent(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"call-id": "idem"})), "Svc.Work", struct{}{}, &ok))
	assert.True(t, ok)
	assert.Equal(t, 2, l.count("idem"), "ran where it broke, then again on the other endpoint")
}

// TestAuditHedgesUpToMaxAttempts checks WithHedging's "a second attempt
// ... after delay, a third after another delay, and so on up to the max
// attempts", and Idempotent's "hedged when hedging is on": with two slow
// endpoints preferred, only the third attempt reaches the fast one; with
// WithMaxAttempts(2) it never does; unmarked calls are not hedged.
func TestAuditHedgesUpToMaxAttempts(t *testing.T) {
	s1, s2, fast := startNode(t, "s1"), startNode(t, "s2"), startNode(t, "fast")
	s1.delay.Store(int64(time.Minute))
	s2.delay.Store(int64(time.Minute))
	order := preferred{s1.addr, s2.addr, fast.addr}
	r := resolver.Static(addrs(s1, s2, fast)...)

	three := newClient(t, r, cluster.WithBalancer(order), cluster.WithHedging(20*time.Millisecond))
	two := newClient(t, r, cluster.WithBalancer(order), cluster.WithHedging(20*time.Millisecond), cluster.WithMaxAttempts(2))
	waitReady(t, three, 3)
	waitReady(t, two, 3)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var who string
	require.NoError(t, three.Call(cluster.Idempotent(ctx), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "fast", who, "the third attempt won")

	served := fast.served.Load()
	short, cancelShort := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort()
	err := two.Call(cluster.Idempotent(short), "Svc.Who", struct{}{}, &who)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "two attempts, both slow: %v", err)
	assert.Equal(t, served, fast.served.Load(), "WithMaxAttempts(2) never reached the third endpoint")

	short2, cancelShort2 := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancelShort2()
	err = three.Call(short2, "Svc.Who", struct{}{}, &who)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "a call not marked idempotent is not hedged: %v", err)
	assert.Equal(t, served, fast.served.Load())
}

// TestAuditBreakerCountsAvailabilityOnly checks WithCircuitBreaker's
// "after failures consecutive failed calls (unavailable, deadline exceeded,
// resource exhausted)" and EndpointInfo.Failures' "attempts that failed for
// want of the endpoint": an application error (invalid argument) neither
// opens the breaker nor counts, resource exhausted does both, and
// "failures 0 turns the breaker off".
func TestAuditBreakerCountsAvailabilityOnly(t *testing.T) {
	var invalid atomic.Bool
	a := startNode(t, "a", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if invalid.Load() {
			return nil, ferry.NewError(ferry.CodeInvalidArgument, "injected application error")
		}
		return next(ctx, args)
	}))
	cl := newClient(t, resolver.Static(a.addr), cluster.WithCircuitBreaker(2, time.Minute))
	off := newClient(t, resolver.Static(a.addr), cluster.WithCircuitBreaker(0, 0))
	waitReady(t, cl, 1)
	waitReady(t, off, 1)
	invalid.Store(true)
	for range 10 {
		err := cl.Call(callCtx(t), "Svc.Who", struct{}{}, nil)
		require.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
	}
	invalid.Store(false)
	info := endpointInfo(cl, a.addr)
	assert.Equal(t, "ready", info.State, "application errors do not open the breaker")
	assert.Zero(t, info.Failures)
	assert.Equal(t, int64(10), info.Attempts)

	a.failOn.Store(true)
	for range 2 {
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(cl.Call(callCtx(t), "Svc.Who", struct{}{}, nil)))
	}
	info = endpointInfo(cl, a.addr)
	assert.Equal(t, "open", info.State, "two overloads in a row open it")
	assert.Equal(t, int64(2), info.Failures)

	for range 10 {
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(off.Call(callCtx(t), "Svc.Who", struct{}{}, nil)))
	}
	assert.Equal(t, "ready", endpointInfo(off, a.addr).State, "failures 0: no breaker")
	assert.Equal(t, int64(10), endpointInfo(off, a.addr).Failures)
}

// TestAuditNoHealthServiceIsServing checks WithHealthCheck's "A server
// without the health service counts as serving": with checks every 10 ms,
// such an endpoint becomes ready and stays in rotation.
func TestAuditNoHealthServiceIsServing(t *testing.T) {
	srv := server.New()
	require.NoError(t, srv.RegisterName("Svc", &svc{n: &node{}}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })

	cl := newClient(t, resolver.Static(l.Addr().String()), cluster.WithHealthCheck("", 10*time.Millisecond, time.Second))
	waitReady(t, cl, 1)
	deadline := time.Now().Add(200 * time.Millisecond) // twenty check periods
	for time.Now().Before(deadline) {
		require.NoError(t, cl.Call(callCtx(t), "Svc.Who", struct{}{}, nil))
		require.Equal(t, "ready", endpointInfo(cl, l.Addr().String()).State)
	}
}

// TestAuditRetryBudgetFreeRetries checks WithRetryBudget's "Retrying a
// call that provably did not run, and was not refused for overload,
// spends nothing": with a budget that never refills (0, 0: 100 tokens)
// 150 calls refused as not executed (unavailable) by the preferred
// endpoint all succeed on the other, while refusals for
// overload (resource exhausted, not executed) exhaust the budget and
// some calls fail.
func TestAuditRetryBudgetFreeRetries(t *testing.T) {
	for _, code := range []ferry.Code{ferry.CodeUnavailable, ferry.CodeResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			var refused atomic.Int64
			bad := startNode(t, "bad", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				if info.Method == "Svc.Who" {
					refused.Add(1)
					return nil, ferry.MarkNotExecuted(ferry.NewError(code, "injected refusal"))
				}
				return next(ctx, args)
			}))
			good := startNode(t, "good")
			cl := newClient(t, resolver.Static(addrs(bad, good)...), cluster.WithBalancer(preferred{bad.addr, good.addr}),
				cluster.WithRetryBudget(0, 0), cluster.WithCircuitBreaker(0, 0), cluster.WithHealthCheck("", 0, 0))
			waitReady(t, cl, 2)
			failed := 0
			for i := 0; i < 3000 && refused.Load() < 150; i++ { // more refusals than the 100 tokens
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				if err := cl.Call(ctx, "Svc.Who", struct{}{}, nil); err != nil {
					require.True(t, ferry.NotExecuted(err), "%v", err)
					failed++
				}
				cancel()
			}
			require.GreaterOrEqual(t, refused.Load(), int64(150))
			if code == ferry.CodeUnavailable {
				assert.Zero(t, failed, "free retries")
			} else {
				assert.Positive(t, failed, "overload retries spend the budget")
				assert.LessOrEqual(t, good.served.Load(), int64(110), "about 100 tokens")
			}
		})
	}
}

// TestAuditHealthTwoFailedChecks checks WithHealthCheck's "keeps endpoints
// that ... fail two checks in a row, out of rotation until they pass
// again": after one failed check the endpoint is still ready, after the
// second it is unhealthy, and a passing check brings it back.
func TestAuditHealthTwoFailedChecks(t *testing.T) {
	var failing atomic.Bool
	var failed atomic.Int64
	a := startNode(t, "a", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "Health.Check" && failing.Load() {
			failed.Add(1)
			return nil, ferry.NewError(ferry.CodeInternal, "injected check failure")
		}
		return next(ctx, args)
	}))
	cl := newClient(t, resolver.Static(a.addr), cluster.WithHealthCheck("", 300*time.Millisecond, time.Second))
	waitReady(t, cl, 1)
	failing.Store(true)
	require.Eventually(t, func() bool { return failed.Load() >= 1 }, 5*time.Second, time.Millisecond)
	if failed.Load() == 1 { // the next check is at least 270 ms away
		assert.Equal(t, "ready", endpointInfo(cl, a.addr).State, "one failed check keeps it in rotation")
	}
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State == "unhealthy" }, 5*time.Second, time.Millisecond)
	assert.GreaterOrEqual(t, failed.Load(), int64(2), "out of rotation only after two failed checks")
	failing.Store(false)
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State == "ready" }, 5*time.Second, time.Millisecond)
}

// TestAuditDrainTimeout checks WithDrainTimeout's "bounds how long the
// connection to an endpoint that left the set ... stays open for the calls
// still running on it": a call that would run a minute fails soon after
// its endpoint leaves the set.
func TestAuditDrainTimeout(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	a.delay.Store(int64(time.Minute))
	m := resolver.NewManual(resolver.Endpoint{Addr: a.addr})
	cl := newClient(t, m, cluster.WithDrainTimeout(100*time.Millisecond))
	waitReady(t, cl, 1)
	call := cl.Go(t.Context(), "Svc.Who", struct{}{}, new(string))
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).Outstanding == 1 }, 5*time.Second, time.Millisecond)
	m.Update(resolver.Endpoint{Addr: b.addr})
	select {
	case <-call.Done():
		require.Error(t, call.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the call outlived the drain timeout")
	}
	var who string
	require.NoError(t, cl.Call(callCtx(t), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "b", who)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestAuditLogger checks WithLogger's "sends the Client's log lines
// (endpoints coming and going, resolver errors) to l".
func TestAuditLogger(t *testing.T) {
	var out syncBuffer
	m := resolver.NewManual(resolver.Endpoint{Addr: "127.0.0.1:1"})
	newClient(t, m, cluster.WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	logged := func(parts ...string) func() bool {
		return func() bool {
			s := out.String()
			for _, p := range parts {
				if !strings.Contains(s, p) {
					return false
				}
			}
			return true
		}
	}
	assert.Eventually(t, logged("added", "127.0.0.1:1"), 5*time.Second, time.Millisecond)
	m.Update(resolver.Endpoint{Addr: "127.0.0.1:2"})
	assert.Eventually(t, logged("removed", "127.0.0.1:2"), 5*time.Second, time.Millisecond)
	m.Fail(errors.New("registry hiccup"))
	assert.Eventually(t, logged("registry hiccup"), 5*time.Second, time.Millisecond)
}

// TestAuditAttrDefaults checks resolver.AttrWeight's "1 when absent or
// invalid" and AttrPriority's "0 when absent": with round robin, endpoints
// without attributes, with a malformed or out-of-range weight each get one
// turn for the two of an endpoint of weight 2, and an endpoint of priority
// 1 gets none while those of priority 0 are ready.
func TestAuditAttrDefaults(t *testing.T) {
	a, b, c, d, e := startNode(t, "a"), startNode(t, "b"), startNode(t, "c"), startNode(t, "d"), startNode(t, "e")
	cl := newClient(t, resolver.NewManual(
		resolver.Endpoint{Addr: a.addr},
		resolver.Endpoint{Addr: b.addr, Attrs: map[string]string{resolver.AttrWeight: "heavy"}},
		resolver.Endpoint{Addr: c.addr, Attrs: map[string]string{resolver.AttrWeight: "70000"}},
		resolver.Endpoint{Addr: d.addr, Attrs: map[string]string{resolver.AttrWeight: "2", resolver.AttrPriority: "0"}},
		resolver.Endpoint{Addr: e.addr, Attrs: map[string]string{resolver.AttrPriority: "1"}},
	), cluster.WithBalancer(balancer.RoundRobin()))
	waitReady(t, cl, 5)
	counts := map[string]int{}
	for range 500 {
		var who string
		require.NoError(t, cl.Call(callCtx(t), "Svc.Who", struct{}{}, &who))
		counts[who]++
	}
	// The turns restart when the picker is rebuilt (an endpoint's state
	// changing under a loaded machine moved one call from d to b in a CI
	// run), so each share is checked within two calls.
	want := map[string]int{"a": 100, "b": 100, "c": 100, "d": 200}
	for who, n := range counts {
		assert.Contains(t, want, who, "priority 1 gets no call while priority 0 is ready")
		assert.InDelta(t, want[who], n, 2, "%s: %v", who, counts)
	}
	assert.Len(t, counts, 4, "%v", counts)
}

// TestAuditStreamStatsCancel checks StreamStats.Failed's "streams that
// ended with an error other than the caller's cancel": a stream the caller
// cancels, before or after it opened, is not failed; streams that end
// normally are not either.
func TestAuditStreamStatsCancel(t *testing.T) {
	nodes := []*streamNode{startStreamNode(t, "a", false)}
	c := streamCluster(t, nodes)
	_, err := chatOnce(t.Context(), c, "one", "two")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	st, err := client.OpenBidi[tagged, tagged](ctx, c, "Svc.Chat")
	require.NoError(t, err)
	require.NoError(t, st.Send(&tagged{Text: "hi"}))
	_, err = st.Recv()
	require.NoError(t, err)
	cancel()
	_, err = st.Recv()
	require.Error(t, err)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	st.Close()

	// Canceled before it opened: not a failure either.
	_, err = c.NewStream(ctx, "Svc.Chat")
	require.Error(t, err)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)

	stats := c.StreamStats()
	assert.LessOrEqual(t, stats.Opened, int64(3))
	assert.Zero(t, stats.Failed, "the caller's cancel is not a failure")
	assert.Zero(t, stats.Retried)
}

// TestAuditGoRetries checks Go's "starts a call, with Call's retries": a
// call refused as not executed by the endpoint it went to first completes
// on the other one.
func TestAuditGoRetries(t *testing.T) {
	var refused atomic.Int64
	bad := startNode(t, "bad", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "Svc.Who" {
			refused.Add(1)
			return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "injected refusal"))
		}
		return next(ctx, args)
	}))
	good := startNode(t, "good")
	cl := newClient(t, resolver.Static(addrs(bad, good)...), cluster.WithBalancer(preferred{bad.addr, good.addr}), cluster.WithHealthCheck("", 0, 0))
	waitReady(t, cl, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var who string
	call := cl.Go(ctx, "Svc.Who", struct{}{}, &who)
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("the call did not finish")
	}
	require.NoError(t, call.Err())
	assert.Equal(t, "good", who)
	assert.Equal(t, int64(1), refused.Load(), "the first attempt went to the refusing endpoint")
}

// TestAuditDialTimeout checks WithDialTimeout's "bounds one connection
// attempt, handshake included": against a listener that accepts but never
// speaks, each attempt gives up after the timeout and the endpoint dials
// again, while with the default 5 s the first attempt is still pending.
func TestAuditDialTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	addr := l.Addr().String()
	short := newClient(t, resolver.Static(addr), cluster.WithDialTimeout(50*time.Millisecond))
	long := newClient(t, resolver.Static(addr))
	require.Eventually(t, func() bool { return endpointInfo(short, addr).Dials >= 3 }, 5*time.Second, time.Millisecond,
		"each attempt ends at the dial timeout")
	assert.Equal(t, int64(1), endpointInfo(long, addr).Dials, "the default 5 s: still the first attempt")
	assert.NotEqual(t, "ready", endpointInfo(short, addr).State)
}

// countingBalancer is round robin that checks balancer.Balancer's contract
// on the cluster's side: Build gets the ready set, "never empty", each time
// it changes.
type countingBalancer struct {
	mu     sync.Mutex
	builds [][]string
	empty  int
}

func (b *countingBalancer) Build(ready []balancer.Endpoint) balancer.Picker {
	set := make([]string, len(ready))
	for i, e := range ready {
		set[i] = e.Addr()
	}
	b.mu.Lock()
	if len(ready) == 0 {
		b.empty++
	}
	b.builds = append(b.builds, set)
	b.mu.Unlock()
	return balancer.RoundRobin().Build(ready)
}

func (b *countingBalancer) last() ([]string, int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.builds) == 0 {
		return nil, 0, b.empty
	}
	return b.builds[len(b.builds)-1], len(b.builds), b.empty
}

// TestAuditBalancerBuildContract checks Balancer.Build's "It is called
// whenever the ready set changes" with a ready set that "is never empty":
// the latest Build has exactly the ready endpoints as they come and go,
// and none is ever empty, even when every endpoint is down.
func TestAuditBalancerBuildContract(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	cb := &countingBalancer{}
	cl := newClient(t, resolver.Static(addrs(a, b)...), cluster.WithBalancer(cb), cluster.WithHealthCheck("", 0, 0))
	waitReady(t, cl, 2)
	latest := func(want ...string) func() bool {
		return func() bool {
			set, _, _ := cb.last()
			return assert.ObjectsAreEqual(want, set)
		}
	}
	both := []string{a.addr, b.addr}
	if both[0] > both[1] {
		both[0], both[1] = both[1], both[0]
	}
	sortedLast := func() bool {
		set, _, _ := cb.last()
		s := append([]string(nil), set...)
		if len(s) == 2 && s[0] > s[1] {
			s[0], s[1] = s[1], s[0]
		}
		return assert.ObjectsAreEqual(both, s)
	}
	require.Eventually(t, sortedLast, 5*time.Second, time.Millisecond, "both ready")
	a.kill()
	require.Eventually(t, latest(b.addr), 5*time.Second, time.Millisecond, "a left the ready set")
	b.kill()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.Eventually(t, func() bool {
		return endpointInfo(cl, b.addr).State != "ready" && endpointInfo(cl, b.addr).State != ""
	}, 5*time.Second, time.Millisecond)
	a.restart()
	require.NoError(t, cl.WaitReady(ctx, 1))
	require.Eventually(t, latest(a.addr), 5*time.Second, time.Millisecond, "a is back, alone")
	_, _, empty := cb.last()
	assert.Zero(t, empty, "Build was never given an empty set")
}

// TestAuditCredentialRefusalNotRetried checks Call's "unless it was
// refused for its credentials": a refusal, not executed, with permission
// denied or unauthenticated reaches the caller without a retry, while the
// same refusal with unavailable goes to the other endpoint.
func TestAuditCredentialRefusalNotRetried(t *testing.T) {
	for _, code := range []ferry.Code{ferry.CodePermissionDenied, ferry.CodeUnauthenticated, ferry.CodeUnavailable} {
		t.Run(code.String(), func(t *testing.T) {
			bad := startNode(t, "bad", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				if info.Method == "Svc.Who" {
					return nil, ferry.MarkNotExecuted(ferry.NewError(code, "injected refusal"))
				}
				return next(ctx, args)
			}))
			good := startNode(t, "good")
			cl := newClient(t, resolver.Static(addrs(bad, good)...), cluster.WithBalancer(preferred{bad.addr, good.addr}), cluster.WithHealthCheck("", 0, 0))
			waitReady(t, cl, 2)
			err := cl.Call(callCtx(t), "Svc.Who", struct{}{}, nil)
			if code == ferry.CodeUnavailable {
				require.NoError(t, err)
				assert.Equal(t, int64(1), good.served.Load())
				return
			}
			assert.Equal(t, code, ferry.CodeOf(err), "%v", err)
			assert.Zero(t, good.served.Load(), "not retried")
		})
	}
}

// recordingBalancer prefers the endpoints of order (as preferred does) and
// records what each Pick was told.
type recordingBalancer struct {
	order preferred
	mu    sync.Mutex
	seen  []pickSeen
}

type pickSeen struct {
	method, key string
	skipped     []string // endpoints Skip rejected
}

func (b *recordingBalancer) Build(ready []balancer.Endpoint) balancer.Picker {
	return recordingPicker{b, ready, b.order.Build(ready)}
}

type recordingPicker struct {
	b     *recordingBalancer
	ready []balancer.Endpoint
	next  balancer.Picker
}

func (p recordingPicker) Pick(info *balancer.Info) balancer.Endpoint {
	s := pickSeen{method: info.Method}
	s.key, _ = balancer.HashKey(info.Ctx)
	for _, e := range p.ready {
		if info.Skip != nil && info.Skip(e) {
			s.skipped = append(s.skipped, e.Addr())
		}
	}
	p.b.mu.Lock()
	p.b.seen = append(p.b.seen, s)
	p.b.mu.Unlock()
	return p.next.Pick(info)
}

// TestAuditBalancerInfo checks balancer.Info as the cluster fills it: the
// call's "Service.Method", its context carrying the hash key, and on a
// retry a Skip that rejects the endpoint that refused the call; for
// streams too.
func TestAuditBalancerInfo(t *testing.T) {
	bad := startNode(t, "bad", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "Svc.Who" {
			return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "injected refusal"))
		}
		return next(ctx, args)
	}))
	good := startNode(t, "good")
	rb := &recordingBalancer{order: preferred{bad.addr, good.addr}}
	cl := newClient(t, resolver.Static(addrs(bad, good)...), cluster.WithBalancer(rb), cluster.WithHealthCheck("", 0, 0))
	waitReady(t, cl, 2)
	var who string
	require.NoError(t, cl.Call(balancer.WithHashKey(callCtx(t), "user-7"), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "good", who)
	rb.mu.Lock()
	seen := slices.Clone(rb.seen)
	rb.seen = nil
	rb.mu.Unlock()
	require.Len(t, seen, 2, "two attempts")
	assert.Equal(t, pickSeen{method: "Svc.Who", key: "user-7"}, seen[0])
	assert.Equal(t, pickSeen{method: "Svc.Who", key: "user-7", skipped: []string{bad.addr}}, seen[1])

	st, err := cl.NewStream(balancer.WithHashKey(callCtx(t), "room-1"), "Svc.Chat")
	if err == nil {
		st.Close()
	}
	rb.mu.Lock()
	defer rb.mu.Unlock()
	require.NotEmpty(t, rb.seen)
	assert.Equal(t, "Svc.Chat", rb.seen[0].method)
	assert.Equal(t, "room-1", rb.seen[0].key)
}

// TestAuditSingleCheckOnRefusal checks WithHealthCheck's "An interval of 0
// turns periodic checks off; a single check still runs when a connection
// refuses a call as not executed": no check runs while calls succeed, and
// one runs after a refusal.
func TestAuditSingleCheckOnRefusal(t *testing.T) {
	var checks atomic.Int64
	var refuse atomic.Bool
	a := startNode(t, "a", server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		switch {
		case info.Method == "Health.Check":
			checks.Add(1)
		case refuse.CompareAndSwap(true, false):
			return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "injected refusal"))
		}
		return next(ctx, args)
	}))
	cl := newClient(t, resolver.Static(a.addr), cluster.WithHealthCheck("", 0, 0))
	waitReady(t, cl, 1)
	for range 20 {
		require.NoError(t, cl.Call(callCtx(t), "Svc.Who", struct{}{}, nil))
	}
	assert.Zero(t, checks.Load(), "no periodic checks")
	refuse.Store(true)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, cl.Call(ctx, "Svc.Who", struct{}{}, nil), "retried after the refusal")
	require.Eventually(t, func() bool { return checks.Load() == 1 }, 5*time.Second, time.Millisecond, "one check after the refusal")
}

// callCtx bounds one call of these tests, so that a regression fails
// rather than hangs.
func callCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
