package e2e_test

// Promises of the cluster, balancer and resolver package docs.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPkgDocsBackoff checks cluster.Backoff's docs: DefaultBackoff is 1 s,
// ×1.6, ±20 %, at most 30 s; the n-th failure waits Base × Multiplier^(n-1),
// at most Max, spread by ±Jitter; Validate's ranges (Base 1 ms to 1 min,
// Multiplier 1 to 10, Jitter 0 to 1, Max Base to 1 h).
func TestPkgDocsBackoff(t *testing.T) {
	d := cluster.DefaultBackoff()
	assert.Equal(t, cluster.Backoff{Base: time.Second, Multiplier: 1.6, Jitter: 0.2, Max: 30 * time.Second}, d)
	require.NoError(t, d.Validate())

	exact := cluster.Backoff{Base: 100 * time.Millisecond, Multiplier: 2, Jitter: 0, Max: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 50: time.Second} {
		assert.Equal(t, want, exact.Delay(n), "n=%d", n)
	}
	for range 200 {
		first := d.Delay(1)
		assert.GreaterOrEqual(t, first, 800*time.Millisecond)
		assert.LessOrEqual(t, first, 1200*time.Millisecond)
		third := d.Delay(3) // 1 s × 1.6² = 2.56 s
		assert.GreaterOrEqual(t, third, 2048*time.Millisecond)
		assert.LessOrEqual(t, third, 3072*time.Millisecond)
		capped := d.Delay(100)
		assert.GreaterOrEqual(t, capped, 24*time.Second)
		assert.LessOrEqual(t, capped, 36*time.Second)
	}

	ok := []cluster.Backoff{
		{Base: time.Millisecond, Multiplier: 1, Jitter: 0, Max: time.Millisecond},
		{Base: time.Minute, Multiplier: 10, Jitter: 1, Max: time.Hour},
	}
	for _, b := range ok {
		assert.NoError(t, b.Validate(), "%+v", b)
		c, err := cluster.New(resolver.Static("127.0.0.1:1"), cluster.WithBackoff(b))
		if assert.NoError(t, err) {
			require.NoError(t, c.Close())
		}
	}
	bad := []cluster.Backoff{
		{Base: time.Millisecond - 1, Multiplier: 1, Max: time.Second},
		{Base: time.Minute + 1, Multiplier: 1, Max: time.Hour},
		{Base: time.Second, Multiplier: 0.99, Max: time.Second},
		{Base: time.Second, Multiplier: 10.01, Max: time.Second},
		{Base: time.Second, Multiplier: 2, Jitter: -0.01, Max: time.Second},
		{Base: time.Second, Multiplier: 2, Jitter: 1.01, Max: time.Second},
		{Base: time.Second, Multiplier: 2, Max: time.Second - 1},
		{Base: time.Second, Multiplier: 2, Max: time.Hour + 1},
	}
	for _, b := range bad {
		assert.Error(t, b.Validate(), "%+v", b)
		c, err := cluster.New(resolver.Static("127.0.0.1:1"), cluster.WithBackoff(b))
		if !assert.Error(t, err, "%+v", b) {
			c.Close()
		}
	}
}

// TestPkgDocsClusterOptionRanges checks the documented range of every
// cluster option: both ends accepted, past either refused by New.
func TestPkgDocsClusterOptionRanges(t *testing.T) {
	ms := time.Millisecond
	ok := map[string]cluster.Option{
		"dial 10ms":               cluster.WithDialTimeout(10 * ms),
		"dial 5m":                 cluster.WithDialTimeout(5 * time.Minute),
		"drain 0":                 cluster.WithDrainTimeout(0),
		"drain 10m":               cluster.WithDrainTimeout(10 * time.Minute),
		"health 10ms/1ms":         cluster.WithHealthCheck("", 10*ms, ms),
		"health 1h/1m":            cluster.WithHealthCheck("svc", time.Hour, time.Minute),
		"health 0/0":              cluster.WithHealthCheck("", 0, 0),
		"health 0/1m":             cluster.WithHealthCheck("", 0, time.Minute),
		"hedge 1ms":               cluster.WithHedging(ms),
		"hedge 1m":                cluster.WithHedging(time.Minute),
		"attempts 1":              cluster.WithMaxAttempts(1),
		"attempts 10":             cluster.WithMaxAttempts(10),
		"breaker off":             cluster.WithCircuitBreaker(0, 0),
		"breaker 1/1ms":           cluster.WithCircuitBreaker(1, ms),
		"breaker 1e6/10m":         cluster.WithCircuitBreaker(1_000_000, 10*time.Minute),
		"budget 0/0":              cluster.WithRetryBudget(0, 0),
		"budget 1/1e6":            cluster.WithRetryBudget(1, 1_000_000),
		"balancer":                cluster.WithBalancer(balancer.RoundRobin()),
		"idempotent, wait, logs":  cluster.WithIdempotent("A.B"),
		"wait for ready":          cluster.WithWaitForReady(),
		"client options, no opts": cluster.WithClientOptions(),
	}
	for name, opt := range ok {
		c, err := cluster.New(resolver.Static("127.0.0.1:1"), opt)
		if assert.NoError(t, err, name) {
			require.NoError(t, c.Close())
		}
	}
	bad := map[string]cluster.Option{
		"dial 9ms":           cluster.WithDialTimeout(9 * ms),
		"dial 5m+":           cluster.WithDialTimeout(5*time.Minute + 1),
		"drain -1":           cluster.WithDrainTimeout(-1),
		"drain 10m+":         cluster.WithDrainTimeout(10*time.Minute + 1),
		"health 9ms":         cluster.WithHealthCheck("", 9*ms, time.Second),
		"health 1h+":         cluster.WithHealthCheck("", time.Hour+1, time.Second),
		"health timeout 0":   cluster.WithHealthCheck("", time.Second, 0),
		"health timeout 1m+": cluster.WithHealthCheck("", time.Second, time.Minute+1),
		"health 0/1m+":       cluster.WithHealthCheck("", 0, time.Minute+1),
		"health 0/-1":        cluster.WithHealthCheck("", 0, -1),
		"hedge 0":            cluster.WithHedging(0),
		"hedge 1m+":          cluster.WithHedging(time.Minute + 1),
		"attempts 0":         cluster.WithMaxAttempts(0),
		"attempts 11":        cluster.WithMaxAttempts(11),
		"breaker -1":         cluster.WithCircuitBreaker(-1, time.Second),
		"breaker 1e6+1":      cluster.WithCircuitBreaker(1_000_001, time.Second),
		"breaker cool 0":     cluster.WithCircuitBreaker(5, 0),
		"breaker cool 10m+":  cluster.WithCircuitBreaker(5, 10*time.Minute+1),
		"budget ratio -":     cluster.WithRetryBudget(-0.01, 10),
		"budget ratio 1+":    cluster.WithRetryBudget(1.01, 10),
		"budget floor -":     cluster.WithRetryBudget(0.1, -1),
		"budget floor 1e6+":  cluster.WithRetryBudget(0.1, 1_000_001),
		"balancer nil":       cluster.WithBalancer(nil),
		"logger nil":         cluster.WithLogger(nil),
	}
	for name, opt := range bad {
		c, err := cluster.New(resolver.Static("127.0.0.1:1"), opt)
		if !assert.Error(t, err, name) {
			c.Close()
			continue
		}
		assert.True(t, strings.HasPrefix(err.Error(), "ferry: "), err.Error())
	}
	_, err := cluster.New(nil)
	assert.Error(t, err, "nil resolver")
}

// TestPkgDocsClusterAllDown checks WithWaitForReady's "Default off: ...
// fail at once with ferry.CodeUnavailable, not executed, when every
// endpoint is down: its last dial failed", and Close's "WaitReady ...
// returns ... ferry.ErrClosed, wrapped" once the Client closes.
func TestPkgDocsClusterAllDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := l.Addr().String()
	require.NoError(t, l.Close()) // nothing listens there now

	c, err := cluster.New(resolver.Static(dead), cluster.WithBackoff(cluster.Backoff{Base: time.Minute, Multiplier: 1, Max: time.Minute}))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, nil)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.NoError(t, ctx.Err(), "failed at once, not at the deadline")

	waitErr := make(chan error, 1)
	go func() { waitErr <- c.WaitReady(ctx, 1) }()
	require.NoError(t, c.Close())
	select {
	case err := <-waitErr:
		assert.ErrorIs(t, err, ferry.ErrClosed)
	case <-ctx.Done():
		t.Fatal("WaitReady did not return after Close")
	}
	assert.ErrorIs(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 2}, nil), ferry.ErrClosed)
}

// fakeEP is a balancer.Endpoint with a settable load and optional weight.
type fakeEP struct {
	addr   string
	load   int
	weight int // -1: not Weighted
}

func (e *fakeEP) Addr() string     { return e.addr }
func (e *fakeEP) Outstanding() int { return e.load }

type weightedEP struct{ *fakeEP }

func (e weightedEP) Weight() int { return e.weight }

func eps(loads ...int) []balancer.Endpoint {
	out := make([]balancer.Endpoint, len(loads))
	for i, l := range loads {
		out[i] = &fakeEP{addr: "10.0.0." + string(rune('1'+i)) + ":7000", load: l, weight: -1}
	}
	return out
}

// TestPkgDocsBalancers checks balancer's docs: RoundRobin gives each
// endpoint its turn; P2C uses the less busy of two distinct endpoints (so
// the busiest of three never wins); ConsistentHash sends a key to the same
// endpoint and, when an endpoint leaves, moves only its keys; a Picker
// returns a skipped endpoint only when it has no other;
// BoundedConsistentHash's range (0 means DefaultLoadBound, 0.01 to 10) and
// bound; weight 0 takes calls only when every other endpoint is skipped.
func TestPkgDocsBalancers(t *testing.T) {
	set := eps(0, 0, 0)
	rr := balancer.RoundRobin().Build(set)
	seen := map[string]int{}
	for range 300 {
		seen[rr.Pick(&balancer.Info{Ctx: context.Background()}).Addr()]++
	}
	for _, e := range set {
		assert.Equal(t, 100, seen[e.Addr()], "each in turn")
	}

	busy := eps(1, 5, 3)
	p := balancer.P2C().Build(busy)
	for range 300 {
		assert.NotEqual(t, busy[1].Addr(), p.Pick(&balancer.Info{Ctx: context.Background()}).Addr(), "the busiest of three never wins a pair")
	}

	ch := balancer.ConsistentHash().Build(set)
	owner := map[string]string{}
	for i := range 200 {
		key := "key-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		a := ch.Pick(&balancer.Info{Ctx: balancer.WithHashKey(context.Background(), key)}).Addr()
		for range 3 {
			assert.Equal(t, a, ch.Pick(&balancer.Info{Ctx: balancer.WithHashKey(context.Background(), key)}).Addr())
		}
		owner[key] = a
	}
	// "Placement depends only on the addresses, so every client agrees on
	// it": the same set in another order, with other loads, places every
	// key the same.
	reordered := balancer.ConsistentHash().Build([]balancer.Endpoint{
		&fakeEP{addr: set[2].Addr(), load: 9}, &fakeEP{addr: set[0].Addr(), load: 3}, &fakeEP{addr: set[1].Addr()},
	})
	for key, a := range owner {
		assert.Equal(t, a, reordered.Pick(&balancer.Info{Ctx: balancer.WithHashKey(context.Background(), key)}).Addr(), key)
	}
	k, ok := balancer.HashKey(balancer.WithHashKey(context.Background(), "k1"))
	assert.True(t, ok)
	assert.Equal(t, "k1", k)
	smaller := balancer.ConsistentHash().Build(set[:2])
	gone := set[2].Addr()
	for key, a := range owner {
		b := smaller.Pick(&balancer.Info{Ctx: balancer.WithHashKey(context.Background(), key)}).Addr()
		if a != gone {
			assert.Equal(t, a, b, "only the leaving endpoint's keys move")
		}
	}

	for name, b := range map[string]balancer.Balancer{"rr": balancer.RoundRobin(), "p2c": balancer.P2C(), "hash": balancer.ConsistentHash()} {
		pk := b.Build(set)
		skipTwo := func(e balancer.Endpoint) bool { return e.Addr() != set[1].Addr() }
		for range 50 {
			assert.Equal(t, set[1].Addr(), pk.Pick(&balancer.Info{Ctx: balancer.WithHashKey(context.Background(), "x"), Skip: skipTwo}).Addr(), name)
		}
		all := func(balancer.Endpoint) bool { return true }
		assert.NotNil(t, pk.Pick(&balancer.Info{Ctx: context.Background(), Skip: all}), "%s: a skipped endpoint when it has no other", name)
	}

	assert.Equal(t, 0.25, balancer.DefaultLoadBound)
	for _, e := range []float64{0, 0.01, 10} {
		_, err := balancer.BoundedConsistentHash(e)
		assert.NoError(t, err, "epsilon %v", e)
	}
	for _, e := range []float64{0.009, 10.01, -1} {
		_, err := balancer.BoundedConsistentHash(e)
		assert.Error(t, err, "epsilon %v", e)
	}
	// Bound: ceil((1+ε) × (outstanding + 1) / endpoints). Loads 4, 0, 0
	// with ε 0.25: ceil(1.25 × 5 / 3) = 3, so the owner at 4 is full.
	bl, err := balancer.BoundedConsistentHash(0)
	require.NoError(t, err)
	loaded := eps(0, 0, 0)
	bp := bl.Build(loaded)
	for key, a := range owner {
		for _, e := range loaded {
			e.(*fakeEP).load = 0
			if e.Addr() == a {
				e.(*fakeEP).load = 4
			}
		}
		got := bp.Pick(&balancer.Info{Ctx: balancer.WithHashKey(context.Background(), key)}).Addr()
		assert.NotEqual(t, a, got, "a full owner spills over (key %s)", key)
	}

	zero := &fakeEP{addr: "10.0.1.1:7000", weight: 0}
	one := &fakeEP{addr: "10.0.1.2:7000", weight: 1}
	two := &fakeEP{addr: "10.0.1.3:7000", weight: 2}
	wset := []balancer.Endpoint{weightedEP{zero}, weightedEP{one}, weightedEP{two}}
	for name, b := range map[string]balancer.Balancer{"rr": balancer.RoundRobin(), "p2c": balancer.P2C()} {
		pk := b.Build(wset)
		counts := map[string]int{}
		for range 300 {
			counts[pk.Pick(&balancer.Info{Ctx: context.Background()}).Addr()]++
		}
		assert.Zero(t, counts[zero.addr], "%s: weight 0 takes no call while others are there", name)
		if name == "rr" {
			assert.Equal(t, 100, counts[one.addr], "rr: turns in proportion to weight")
			assert.Equal(t, 200, counts[two.addr], "rr: turns in proportion to weight")
		}
		onlyZero := func(e balancer.Endpoint) bool { return e.Addr() != zero.addr }
		assert.Equal(t, zero.addr, pk.Pick(&balancer.Info{Ctx: context.Background(), Skip: onlyZero}).Addr(), name)
	}
}

// fakeLookup answers DNS lookups from tables.
type fakeLookup struct {
	mu       sync.Mutex
	hosts    map[string][]netip.Addr
	srvs     []*net.SRV
	networks []string
}

func (f *fakeLookup) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.networks = append(f.networks, network)
	if a, ok := f.hosts[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func (f *fakeLookup) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", f.srvs, nil
}

// TestPkgDocsResolvers checks resolver's docs: Sort sorts by Addr and
// drops repeated addresses (the first wins); Equal; Static's one set;
// Next after Close returns ErrClosed at once; Manual coalesces updates
// and Fail makes the next Next return the error once; DNS and SRV option
// ranges (interval 10 ms to 1 h, timeout 10 ms to 1 min); SRV gives each
// address its record's priority and weight and keeps the lowest priority;
// a lookup that finds no address is an error; WithIPv4Only asks for A
// records only.
func TestPkgDocsResolvers(t *testing.T) {
	sorted := resolver.Sort([]resolver.Endpoint{{Addr: "b:1"}, {Addr: "a:1", Attrs: map[string]string{"n": "1"}}, {Addr: "a:1", Attrs: map[string]string{"n": "2"}}})
	assert.Equal(t, []resolver.Endpoint{{Addr: "a:1", Attrs: map[string]string{"n": "1"}}, {Addr: "b:1"}}, sorted)
	assert.True(t, resolver.Equal(sorted, []resolver.Endpoint{{Addr: "a:1", Attrs: map[string]string{"n": "1"}}, {Addr: "b:1"}}))
	assert.False(t, resolver.Equal(sorted, []resolver.Endpoint{{Addr: "a:1", Attrs: map[string]string{"n": "2"}}, {Addr: "b:1"}}))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := resolver.Static("b:1", "a:1").Watch(ctx)
	require.NoError(t, err)
	set, err := w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "a:1"}, {Addr: "b:1"}}, set)
	require.NoError(t, w.Close())
	_, err = w.Next(ctx)
	assert.ErrorIs(t, err, resolver.ErrClosed)

	m := resolver.NewManual(resolver.Endpoint{Addr: "x:1"})
	mw, err := m.Watch(ctx)
	require.NoError(t, err)
	set, err = mw.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, "x:1", set[0].Addr)
	m.Update(resolver.Endpoint{Addr: "y:1"})
	m.Update(resolver.Endpoint{Addr: "z:1"})
	set, err = mw.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "z:1"}}, set, "updates in between coalesce into the latest")
	boom := errors.New("boom")
	m.Fail(boom)
	_, err = mw.Next(ctx)
	assert.ErrorIs(t, err, boom)
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	_, err = mw.Next(short)
	cancelShort()
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the error comes once; the set stays")
	mw.ResolveNow()
	assert.Equal(t, int64(1), m.ResolveNowCalls())

	// Every Watcher sees every Update and Fail.
	other, err := m.Watch(ctx)
	require.NoError(t, err)
	set, err = other.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "z:1"}}, set)
	m.Fail(boom)
	for _, w := range []resolver.Watcher{mw, other} {
		_, err = w.Next(ctx)
		assert.ErrorIs(t, err, boom)
	}
	m.Update(resolver.Endpoint{Addr: "b:1"}, resolver.Endpoint{Addr: "a:1"})
	for _, w := range []resolver.Watcher{mw, other} {
		set, err = w.Next(ctx)
		require.NoError(t, err)
		assert.Equal(t, []resolver.Endpoint{{Addr: "a:1"}, {Addr: "b:1"}}, set, "the whole set, sorted by Addr")
	}
	require.NoError(t, other.Close())
	require.NoError(t, mw.Close())
	_, err = mw.Next(ctx)
	assert.ErrorIs(t, err, resolver.ErrClosed)

	for _, o := range []resolver.DNSOption{resolver.WithInterval(10 * time.Millisecond), resolver.WithInterval(time.Hour),
		resolver.WithLookupTimeout(10 * time.Millisecond), resolver.WithLookupTimeout(time.Minute)} {
		_, err := resolver.DNS("svc.example:7000", o)
		assert.NoError(t, err)
	}
	for _, o := range []resolver.DNSOption{resolver.WithInterval(9 * time.Millisecond), resolver.WithInterval(time.Hour + 1),
		resolver.WithLookupTimeout(9 * time.Millisecond), resolver.WithLookupTimeout(time.Minute + 1), resolver.WithLookup(nil)} {
		_, err := resolver.DNS("svc.example:7000", o)
		assert.Error(t, err)
		_, err = resolver.SRV("ferry", "tcp", "svc.example", o)
		assert.Error(t, err)
	}

	fl := &fakeLookup{
		hosts: map[string][]netip.Addr{
			"a.example": {netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")},
			"b.example": {netip.MustParseAddr("10.0.0.2")},
		},
		srvs: []*net.SRV{
			{Target: "b.example", Port: 7000, Priority: 5, Weight: 9},
			{Target: "a.example", Port: 7000, Priority: 1, Weight: 3},
		},
	}
	r, err := resolver.SRV("ferry", "tcp", "svc.example", resolver.WithLookup(fl), resolver.WithIPv4Only())
	require.NoError(t, err)
	sw, err := r.Watch(ctx)
	require.NoError(t, err)
	defer sw.Close()
	set, err = sw.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{
		{Addr: "10.0.0.1:7000", Attrs: map[string]string{resolver.AttrPriority: "1", resolver.AttrWeight: "3"}},
		{Addr: "10.0.0.2:7000", Attrs: map[string]string{resolver.AttrPriority: "1", resolver.AttrWeight: "3"}},
	}, set, "an address listed by several records keeps the lowest priority")
	fl.mu.Lock()
	for _, n := range fl.networks {
		assert.Equal(t, "ip4", n, "WithIPv4Only")
	}
	fl.mu.Unlock()

	nr, err := resolver.DNS("missing.example:7000", resolver.WithLookup(fl))
	require.NoError(t, err)
	nw, err := nr.Watch(ctx)
	require.NoError(t, err)
	defer nw.Close()
	_, err = nw.Next(ctx)
	assert.Error(t, err, "a lookup that finds no address is an error")
	_, err = resolver.DNS("no-port.example")
	assert.Error(t, err)
}

// TestPkgDocsClusterStreamReplayLimit checks cluster.Client.NewStream: a
// stream refused before its handler started is opened again on another
// endpoint "and the messages already sent are sent again there ... Once
// ... 64 messages were sent, the stream stays on its endpoint, and a
// failure reaches the caller with the endpoint's address in its message."
func TestPkgDocsClusterStreamReplayLimit(t *testing.T) {
	for _, sent := range []int{64, 65} {
		t.Run(fmt.Sprint(sent), func(t *testing.T) {
			gate := make(chan struct{})
			refusing := server.New(server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
				select {
				case <-gate:
				case <-ctx.Done():
				}
				return nil, ferry.NewError(ferry.CodeUnavailable, "refused before the handler")
			}))
			counting := server.New()
			count := func(ctx context.Context, st *server.Stream) (any, error) {
				n := 0
				for {
					var v int
					if err := st.Recv(&v); errors.Is(err, io.EOF) {
						return n, nil
					} else if err != nil {
						return nil, err
					}
					if v != n {
						return nil, ferry.Errorf(ferry.CodeDataLoss, "message %d is %d", n, v)
					}
					n++
				}
			}
			for _, s := range []*server.Server{refusing, counting} {
				require.NoError(t, s.HandleStream("Count.All", ferry.ClientStreaming, count))
				t.Cleanup(func() { s.Close() })
			}
			a, b := listen(t, refusing), listen(t, counting)

			m := resolver.NewManual(resolver.Endpoint{Addr: a})
			c, err := cluster.New(m)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			require.NoError(t, c.WaitReady(ctx, 1))
			st, err := c.NewStream(ctx, "Count.All") // on a: the only endpoint
			require.NoError(t, err)
			defer st.Close()
			for i := range sent {
				require.NoError(t, st.Send(i))
			}
			m.Update(resolver.Endpoint{Addr: a}, resolver.Endpoint{Addr: b})
			require.NoError(t, c.WaitReady(ctx, 2))
			close(gate) // a refuses the stream, not executed
			require.NoError(t, st.CloseSend())
			err = st.Recv(nil)
			if sent <= 64 {
				require.ErrorIs(t, err, io.EOF, "moved to b with its messages: %v", err)
				var n int
				require.NoError(t, st.Result(&n))
				assert.Equal(t, sent, n)
				assert.Equal(t, int64(1), c.StreamStats().Retried)
				return
			}
			require.Error(t, err)
			assert.NotErrorIs(t, err, io.EOF)
			assert.Contains(t, err.Error(), a, "the endpoint's address")
			assert.Equal(t, int64(0), c.StreamStats().Retried)
		})
	}
}

// TestPkgDocsClusterEndpoints checks cluster.Client.Endpoints: "the
// current endpoint set, sorted by address", each with the Attrs the
// resolver reported and a State among the documented ones.
func TestPkgDocsClusterEndpoints(t *testing.T) {
	live := listen(t, newServer(t))
	m := resolver.NewManual(
		resolver.Endpoint{Addr: live, Attrs: map[string]string{"id": "x"}},
		resolver.Endpoint{Addr: "127.0.0.1:1"},
	)
	c, err := cluster.New(m)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, 1))
	eps := c.Endpoints()
	require.Len(t, eps, 2)
	assert.Less(t, eps[0].Addr, eps[1].Addr, "sorted by address")
	states := map[string]bool{"connecting": true, "ready": true, "unhealthy": true, "draining": true, "open": true, "half-open": true, "reconnecting": true, "backoff": true}
	for _, e := range eps {
		assert.True(t, states[e.State], "state %q", e.State)
		if e.Addr == live {
			assert.Equal(t, "ready", e.State)
			assert.Equal(t, map[string]string{"id": "x"}, e.Attrs)
			assert.GreaterOrEqual(t, e.Dials, int64(1))
		}
	}
}

// TestPkgDocsClusterNamedHealth checks cluster.WithHealthCheck: "a named
// service the server does not know reports UNKNOWN, which is not serving"
// and "A new connection takes calls only after its first check passes";
// and health.Check through a cluster.Client, "which asks one of its
// endpoints".
func TestPkgDocsClusterNamedHealth(t *testing.T) {
	s := newServer(t)
	hs := health.NewServer()
	require.NoError(t, hs.Register(s))
	addr := listen(t, s)
	c, err := cluster.New(resolver.Static(addr), cluster.WithHealthCheck("Orders", 10*time.Millisecond, time.Second))
	require.NoError(t, err)
	defer c.Close()

	// While the endpoint connects the call waits; once its first check
	// failed no endpoint may become ready soon, and without
	// WithWaitForReady the call fails at once, not executed.
	_, err = health.Check(t.Context(), c, "Orders")
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	err = c.WaitReady(short, 1)
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded, "UNKNOWN is not serving: no endpoint is ready")

	hs.SetStatus("Orders", health.Serving)
	ctx, cancel2 := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel2()
	require.NoError(t, c.WaitReady(ctx, 1))
	st, err := health.Check(ctx, c, "Orders")
	require.NoError(t, err)
	assert.Equal(t, health.Serving, st)
	st, err = health.Check(ctx, c, "Billing")
	require.NoError(t, err)
	assert.Equal(t, health.Unknown, st, "a name that was never set")
	var sum int64
	require.NoError(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 2, "B": 2}, &sum))
	assert.Equal(t, int64(4), sum)
}

// TestPkgDocsManualFailBeforeWatch checks resolver.Watcher's "the first
// call returns the first set" for a Manual whose latest news was a Fail:
// a cluster started then still finds the set ("An error from Next is
// transient: the client keeps the last good set").
func TestPkgDocsManualFailBeforeWatch(t *testing.T) {
	addr := listen(t, newServer(t))
	m := resolver.NewManual(resolver.Endpoint{Addr: addr})
	m.Fail(errors.New("registry hiccup"))
	c, err := cluster.New(m)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, 1))
	var sum int64
	require.NoError(t, c.Call(ctx, "Arith.Add", map[string]int{"A": 1, "B": 1}, &sum))
	assert.Equal(t, int64(2), sum)
}
