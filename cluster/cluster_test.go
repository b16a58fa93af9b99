package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidated(t *testing.T) {
	for _, opt := range []cluster.Option{
		cluster.WithBalancer(nil),
		cluster.WithDialTimeout(0),
		cluster.WithBackoff(cluster.Backoff{}),
		cluster.WithHealthCheck("", time.Nanosecond, time.Second),
		cluster.WithCircuitBreaker(-1, time.Second),
		cluster.WithMaxAttempts(0),
		cluster.WithRetryBudget(2, 0),
		cluster.WithHedging(0),
		cluster.WithDrainTimeout(-1),
		cluster.WithLogger(nil),
	} {
		_, err := cluster.New(resolver.Static("127.0.0.1:1"), opt)
		require.Error(t, err)
	}
	_, err := cluster.New(nil)
	require.Error(t, err)
	require.NoError(t, cluster.DefaultBackoff().Validate())
}

// Call, Go, Notify and the typed forms, spread over three servers.
func TestCallGoNotify(t *testing.T) {
	a, b, c := startNode(t, "a"), startNode(t, "b"), startNode(t, "c")
	cl := newClient(t, resolver.Static(addrs(a, b, c)...), cluster.WithBalancer(balancer.RoundRobin()))
	ctx := t.Context()

	var who string
	require.NoError(t, cl.Call(ctx, "Svc.Who", struct{}{}, &who)) // waits for a connection
	waitReady(t, cl, 3)
	counts := map[string]int{}
	for range 30 {
		require.NoError(t, cl.Call(ctx, "Svc.Who", struct{}{}, &who))
		counts[who]++
	}
	assert.Equal(t, map[string]int{"a": 10, "b": 10, "c": 10}, counts)

	calls := make([]*ferry.Call, 10)
	for i := range calls {
		calls[i] = cl.Go(ctx, "Svc.Who", struct{}{}, new(string))
	}
	for _, call := range calls {
		<-call.Done()
		require.NoError(t, call.Err())
		assert.NotEmpty(t, *call.Reply.(*string))
	}

	got, err := client.Invoke[string](ctx, cl, "Svc.Who", struct{}{})
	require.NoError(t, err)
	assert.Contains(t, []string{"a", "b", "c"}, *got)
	got, err = client.Async[string](ctx, cl, "Svc.Who", struct{}{}).Wait()
	require.NoError(t, err)
	assert.Contains(t, []string{"a", "b", "c"}, *got)

	before := a.served.Load() + b.served.Load() + c.served.Load()
	require.NoError(t, cl.Notify(ctx, "Svc.Who", struct{}{}))
	require.Eventually(t, func() bool {
		return a.served.Load()+b.served.Load()+c.served.Load() == before+1
	}, 5*time.Second, time.Millisecond)

	err = cl.Call(ctx, "Svc.Nope", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
}

func TestConsistentHashKeepsKeysTogether(t *testing.T) {
	a, b, c := startNode(t, "a"), startNode(t, "b"), startNode(t, "c")
	cl := newClient(t, resolver.Static(addrs(a, b, c)...), cluster.WithBalancer(balancer.ConsistentHash()))
	waitReady(t, cl, 3)
	owners := map[string]string{}
	// 100 keys, each called twice: with 20 the ring (random ports, so a
	// random ring) sometimes gave one node none of them.
	for i := range 200 {
		key := fmt.Sprintf("key-%d", i%100)
		var who string
		require.NoError(t, cl.Call(balancer.WithHashKey(t.Context(), key), "Svc.Who", struct{}{}, &who))
		if prev, ok := owners[key]; ok {
			require.Equal(t, prev, who, "key %s moved", key)
		}
		owners[key] = who
	}
	used := map[string]bool{}
	for _, w := range owners {
		used[w] = true
	}
	assert.Len(t, used, 3)
}

// A resolver error keeps the last good set; a new set replaces it, and an
// endpoint that left drains: its call in flight still succeeds.
func TestResolverUpdatesAndErrors(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	m := resolver.NewManual(resolver.Endpoint{Addr: a.addr})
	cl := newClient(t, m)
	waitReady(t, cl, 1)

	m.Fail(errors.New("registry unreachable"))
	for range 20 {
		var who string
		require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		require.Equal(t, "a", who)
	}

	a.delay.Store(int64(300 * time.Millisecond))
	slow := cl.Go(t.Context(), "Svc.Who", struct{}{}, new(string))
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).Outstanding == 1 }, 5*time.Second, time.Millisecond)
	m.Update(resolver.Endpoint{Addr: b.addr})
	require.Eventually(t, func() bool {
		eps := cl.Endpoints()
		return len(eps) == 1 && eps[0].Addr == b.addr && eps[0].State == "ready"
	}, 5*time.Second, time.Millisecond)
	var who string
	require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "b", who)
	require.NoError(t, slow.Wait(), "the call in flight on the removed endpoint finishes")
	assert.Equal(t, "a", *slow.Reply.(*string))
}

// With every endpoint down, a call fails at once, not executed; with
// WithWaitForReady it waits for one to come back.
func TestNoEndpointFailsFastOrWaits(t *testing.T) {
	a := startNode(t, "a")
	cl := newClient(t, resolver.Static(a.addr))
	waitReady(t, cl, 1)
	a.kill()
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State == "backoff" }, 5*time.Second, time.Millisecond)
	start := time.Now()
	err := cl.Call(t.Context(), "Svc.Who", struct{}{}, nil)
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	assert.Less(t, time.Since(start), time.Second)

	w := newClient(t, resolver.Static(a.addr), cluster.WithWaitForReady())
	call := w.Go(t.Context(), "Svc.Who", struct{}{}, new(string))
	a.restart()
	require.NoError(t, call.Wait())

	// A call whose context ends while it waits reports that context's error.
	b := newClient(t, resolver.Static("127.0.0.1:1"), cluster.WithWaitForReady())
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err = b.Call(ctx, "Svc.Who", struct{}{}, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.True(t, ferry.NotExecuted(err))
}

// A server that shuts down gracefully sends a go-away: the calls it
// refuses are not executed and go elsewhere, so no caller sees an error,
// even for methods that are not idempotent.
func TestGoAwayDrainsWithoutFailedCalls(t *testing.T) {
	a, b, c := startNode(t, "a"), startNode(t, "b"), startNode(t, "c")
	cl := newClient(t, resolver.Static(addrs(a, b, c)...),
		cluster.WithHealthCheck("", time.Hour, time.Second)) // no periodic help: the go-away alone
	waitReady(t, cl, 3)
	a.delay.Store(int64(20 * time.Millisecond)) // calls are running on a at shutdown

	ctx, stop := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []error
	var ok int
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
				err := cl.Call(t.Context(), "Svc.Who", struct{}{}, new(string))
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					ok++
				}
				mu.Unlock()
			}
		}()
	}
	require.Eventually(t, func() bool { return a.served.Load() > 50 }, 5*time.Second, time.Millisecond)
	sctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	a.health().Shutdown()
	require.NoError(t, a.shutdown(sctx))
	servedAtStop := b.served.Load() + c.served.Load()
	require.Eventually(t, func() bool { return b.served.Load()+c.served.Load() > servedAtStop+500 }, 5*time.Second, time.Millisecond)
	stop()
	wg.Wait()
	assert.Empty(t, failed)
	assert.Greater(t, ok, 500)
}

// An endpoint whose health check says NOT_SERVING leaves rotation, and
// comes back when it serves again.
func TestHealthCheckTakesEndpointsOutOfRotation(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	cl := newClient(t, resolver.Static(addrs(a, b)...),
		cluster.WithHealthCheck("", 20*time.Millisecond, time.Second))
	waitReady(t, cl, 2)
	a.health().SetStatus("", health.NotServing)
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State == "unhealthy" }, 5*time.Second, time.Millisecond)
	before := a.served.Load()
	for range 50 {
		var who string
		require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		require.Equal(t, "b", who)
	}
	assert.Equal(t, before, a.served.Load())
	a.health().SetStatus("", health.Serving)
	waitReady(t, cl, 2)
}

// Consecutive failures open an endpoint's breaker; after the cool-down
// one probe goes through and, on success, closes it.
func TestCircuitBreaker(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	cl := newClient(t, resolver.Static(addrs(a, b)...),
		cluster.WithBalancer(balancer.RoundRobin()),
		cluster.WithCircuitBreaker(3, time.Second)) // longer than 20 calls take, even on a loaded machine
	waitReady(t, cl, 2)
	a.failOn.Store(true)
	failures := 0
	for range 20 {
		err := cl.Call(t.Context(), "Svc.Who", struct{}{}, nil)
		if err != nil {
			require.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
			failures++
		}
	}
	assert.Equal(t, 3, failures, "the breaker opened after 3 failures")
	assert.Equal(t, "open", endpointInfo(cl, a.addr).State)
	attempts := endpointInfo(cl, a.addr).Attempts

	a.failOn.Store(false)
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State == "half-open" }, 5*time.Second, time.Millisecond)
	assert.Equal(t, attempts, endpointInfo(cl, a.addr).Attempts, "no calls while open")
	require.Eventually(t, func() bool {
		_ = cl.Call(t.Context(), "Svc.Who", struct{}{}, nil)
		return endpointInfo(cl, a.addr).State == "ready"
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, attempts+1, endpointInfo(cl, a.addr).Attempts, "one probe closed it")
}

// Hedging: a slow endpoint's call is overtaken by a hedge to a fast one,
// and the slow attempt is canceled.
func TestHedging(t *testing.T) {
	slow, fast := startNode(t, "slow"), startNode(t, "fast")
	slow.delay.Store(int64(5 * time.Second))
	cl := newClient(t, resolver.Static(addrs(slow, fast)...),
		cluster.WithBalancer(balancer.RoundRobin()),
		cluster.WithHedging(20*time.Millisecond), cluster.WithIdempotent("Svc.Who"))
	waitReady(t, cl, 2)
	for range 6 {
		start := time.Now()
		var who string
		require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		assert.Equal(t, "fast", who)
		assert.Less(t, time.Since(start), time.Second)
	}
	require.Eventually(t, func() bool { return endpointInfo(cl, slow.addr).Outstanding == 0 }, 5*time.Second, time.Millisecond,
		"the slow attempts were canceled")
	// Not idempotent: no hedge, the slow one is waited for (bounded here).
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	errs := 0
	for range 2 {
		if cl.Call(ctx, "Svc.Nope", nil, nil) != nil {
			errs++
		}
	}
	assert.Equal(t, 2, errs)
}

// A connection failure asks the resolver to look again.
func TestConnectionFailureReResolves(t *testing.T) {
	a := startNode(t, "a")
	m := resolver.NewManual(resolver.Endpoint{Addr: a.addr})
	cl := newClient(t, m)
	waitReady(t, cl, 1)
	before := m.ResolveNowCalls()
	a.kill()
	require.Eventually(t, func() bool { return m.ResolveNowCalls() > before }, 5*time.Second, time.Millisecond)
}

// A resolver that reports a new instance at the same address (new Attrs)
// makes the client reconnect at once instead of waiting out its backoff.
func TestNewInstanceCutsBackoffShort(t *testing.T) {
	a := startNode(t, "a")
	m := resolver.NewManual(resolver.Endpoint{Addr: a.addr, Attrs: map[string]string{"instance": "1"}})
	cl := newClient(t, m, cluster.WithBackoff(cluster.Backoff{Base: time.Minute, Multiplier: 1, Max: time.Minute}))
	waitReady(t, cl, 1)
	a.kill()
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State == "reconnecting" }, 5*time.Second, time.Millisecond)
	a.restart()
	start := time.Now()
	m.Update(resolver.Endpoint{Addr: a.addr, Attrs: map[string]string{"instance": "2"}})
	waitReady(t, cl, 1)
	assert.Less(t, time.Since(start), time.Second)
}

func TestClose(t *testing.T) {
	a := startNode(t, "a")
	a.delay.Store(int64(time.Minute))
	cl, err := cluster.New(resolver.Static(a.addr))
	require.NoError(t, err)
	call := cl.Go(t.Context(), "Svc.Who", struct{}{}, nil)
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).Outstanding == 1 }, 5*time.Second, time.Millisecond)
	require.NoError(t, cl.Close())
	require.ErrorIs(t, call.Wait(), ferry.ErrClosed)
	require.ErrorIs(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, nil), ferry.ErrClosed)
	require.ErrorIs(t, cl.Go(t.Context(), "Svc.Who", struct{}{}, nil).Wait(), ferry.ErrClosed)
	require.NoError(t, cl.Close())
}
