package cluster_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A graceful shutdown, announced by nothing but its go-away (no health
// check turns first), fails no call of a method that is not idempotent:
// the calls the draining server never ran reach the cluster as not
// executed and are retried on the other endpoint, and every call runs
// exactly once. Many rounds, so that every timing of the drain shows.
func TestDrainRetriesNotExecutedCalls(t *testing.T) {
	rounds := 12
	if testing.Short() {
		rounds = 3
	}
	deadline := time.Now().Add(30 * time.Second)
	var total, failedRounds int
	n := 0
	for n = 0; n < rounds && time.Now().Before(deadline); n++ {
		ok, failed := drainRound(t, int64(20+(n*53)%200))
		total += ok
		if len(failed) > 0 {
			failedRounds++
			t.Errorf("round %d: %d calls failed, for instance %v", n, len(failed), failed[0])
		}
	}
	t.Logf("%d rounds, %d with failed calls; %d calls succeeded", n, failedRounds, total)
}

// drainRound shuts one of two nodes down gracefully after it served
// after calls, while 16 goroutines call Svc.Work, and returns how many
// calls succeeded and the errors of those that failed.
func drainRound(t *testing.T, after int64) (int, []error) {
	l := newLedger()
	a := startNodeWith(t, "a", noOptions, func(n *node) { n.ledger = l })
	b := startNodeWith(t, "b", noOptions, func(n *node) { n.ledger = l })
	defer a.kill()
	defer b.kill()
	cl := newClient(t, resolver.Static(addrs(a, b)...),
		cluster.WithHealthCheck("", time.Hour, time.Second)) // no periodic help: the go-away alone
	defer cl.Close()
	waitReady(t, cl, 2)

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed []error
		ids    []string
		next   atomic.Int64
	)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100_000 && ctx.Err() == nil; i++ {
				id := strconv.FormatInt(next.Add(1), 10)
				cctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"call-id": id})
				err := cl.Call(cctx, "Svc.Work", struct{}{}, new(bool))
				mu.Lock()
				if err != nil {
					failed = append(failed, err)
				} else {
					ids = append(ids, id)
				}
				mu.Unlock()
			}
		}()
	}
	require.Eventually(t, func() bool { return a.served.Load() >= after }, 5*time.Second, 100*time.Microsecond)
	sctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	require.NoError(t, a.shutdown(sctx))
	atStop := b.served.Load()
	require.Eventually(t, func() bool { return b.served.Load() > atStop+100 }, 5*time.Second, time.Millisecond)
	stop()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		assert.Equal(t, 1, l.count(id), "call %s ran %d times", id, l.count(id))
	}
	return len(ids), failed
}

func noOptions(*node) []server.Option { return nil }

// The go-away alone takes an endpoint out of rotation, before any call is
// refused: the call running there finishes there, new calls go elsewhere
// (none is refused, so none needs a retry), and the server restarted at
// the same address comes back into rotation.
func TestGoAwayLeavesRotationAndComesBack(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	cl := newClient(t, resolver.Static(addrs(a, b)...),
		cluster.WithBalancer(balancer.ConsistentHash()),
		cluster.WithHealthCheck("", time.Hour, time.Second), // no periodic help
		cluster.WithMaxAttempts(1))                          // a refused call would fail
	waitReady(t, cl, 2)

	// A key that a owns.
	var onA context.Context
	for i := 0; i < 1000 && onA == nil; i++ {
		ctx := balancer.WithHashKey(t.Context(), "key-"+strconv.Itoa(i))
		var who string
		require.NoError(t, cl.Call(ctx, "Svc.Who", struct{}{}, &who))
		if who == "a" {
			onA = ctx
		}
	}
	require.NotNil(t, onA)

	a.delay.Store(int64(2 * time.Second))
	var slow string
	before := a.served.Load()
	call := cl.Go(onA, "Svc.Who", struct{}{}, &slow)
	require.Eventually(t, func() bool { return a.served.Load() > before },
		5*time.Second, time.Millisecond)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- a.shutdown(ctx)
	}()
	require.Eventually(t, func() bool { return endpointInfo(cl, a.addr).State != "ready" }, 5*time.Second, time.Millisecond,
		"the go-away takes a out of rotation with no call refused")
	select {
	case <-call.Done():
		t.Fatal("a left rotation only when its last call ended, not at its go-away")
	default:
	}
	attempts := endpointInfo(cl, a.addr).Attempts
	for range 20 {
		var who string
		require.NoError(t, cl.Call(onA, "Svc.Who", struct{}{}, &who))
		assert.Equal(t, "b", who)
	}
	assert.Equal(t, attempts, endpointInfo(cl, a.addr).Attempts, "no call went to a while it drained")
	require.NoError(t, call.Wait(), "the call in flight finished on a")
	assert.Equal(t, "a", slow)
	require.NoError(t, <-shut)

	a.delay.Store(0)
	a.restart()
	waitReady(t, cl, 2)
	var who string
	require.NoError(t, cl.Call(onA, "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "a", who, "the restarted server is back in rotation")
}

// Priorities and weights (SRV records, RFC 2782): calls go to the lowest
// priority that has a ready endpoint, spread by weight; when all of them
// are down the next priority takes over, and hands back when one returns.
func TestPriorityFailoverAndWeights(t *testing.T) {
	a, b, c := startNode(t, "a"), startNode(t, "b"), startNode(t, "c")
	ep := func(n *node, prio, weight string) resolver.Endpoint {
		return resolver.Endpoint{Addr: n.addr, Attrs: map[string]string{resolver.AttrPriority: prio, resolver.AttrWeight: weight}}
	}
	cl := newClient(t, resolver.NewManual(ep(a, "10", "3"), ep(b, "10", "1"), ep(c, "20", "1")),
		cluster.WithBalancer(balancer.RoundRobin()), cluster.WithHealthCheck("", time.Hour, time.Second))
	waitReady(t, cl, 3)
	who := func() string {
		var w string
		require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &w))
		return w
	}
	counts := map[string]int{}
	for range 400 {
		counts[who()]++
	}
	assert.Equal(t, map[string]int{"a": 300, "b": 100}, counts)

	a.kill()
	b.kill()
	require.Eventually(t, func() bool {
		var w string
		return cl.Call(t.Context(), "Svc.Who", struct{}{}, &w) == nil && w == "c"
	}, 5*time.Second, time.Millisecond, "priority 20 takes over")
	for range 20 {
		assert.Equal(t, "c", who())
	}
	b.restart()
	require.Eventually(t, func() bool { return who() == "b" }, 5*time.Second, time.Millisecond, "priority 10 is back")
	for range 20 {
		assert.Equal(t, "b", who())
	}
}
