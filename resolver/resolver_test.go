package resolver_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func addrs(eps []resolver.Endpoint) []string {
	out := make([]string, len(eps))
	for i, e := range eps {
		out[i] = e.Addr
	}
	return out
}

func watch(t *testing.T, r resolver.Resolver) resolver.Watcher {
	t.Helper()
	w, err := r.Watch(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return w
}

func TestStatic(t *testing.T) {
	w := watch(t, resolver.Static("b:2", "a:1", "b:2"))
	eps, err := w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"a:1", "b:2"}, addrs(eps))

	// Then nothing more: Next waits for ctx or Close.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err = w.Next(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, w.Close())
	_, err = w.Next(t.Context())
	require.ErrorIs(t, err, resolver.ErrClosed)
}

func TestManual(t *testing.T) {
	m := resolver.NewManual(resolver.Endpoint{Addr: "a:1"})
	w := watch(t, m)
	eps, err := w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"a:1"}, addrs(eps))

	boom := errors.New("registry down")
	m.Fail(boom)
	_, err = w.Next(t.Context())
	require.ErrorIs(t, err, boom)

	m.Update(resolver.Endpoint{Addr: "c:3"}, resolver.Endpoint{Addr: "b:2"})
	eps, err = w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"b:2", "c:3"}, addrs(eps))

	w.ResolveNow()
	assert.Equal(t, int64(1), m.ResolveNowCalls())
}

func TestDNSOptionsValidated(t *testing.T) {
	_, err := resolver.DNS("no-port")
	require.Error(t, err)
	_, err = resolver.DNS("h:99999")
	require.Error(t, err)
	_, err = resolver.DNS("h:1", resolver.WithInterval(time.Nanosecond))
	require.Error(t, err)
	_, err = resolver.SRV("s", "tcp", "")
	require.Error(t, err)
}

// A changed A record reaches the watcher within one poll interval, and a
// failing lookup is an error that leaves the watcher usable.
func TestDNSARecordChangeWithinInterval(t *testing.T) {
	dns := newDNSServer(t)
	dns.setA("svc.ferry.test", "127.0.0.1", "127.0.0.2")
	const interval = 200 * time.Millisecond
	r, err := resolver.DNS("svc.ferry.test.:7000", resolver.WithLookup(dns.resolver()), resolver.WithInterval(interval))
	require.NoError(t, err)
	w := watch(t, r)

	eps, err := w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7000", "127.0.0.2:7000"}, addrs(eps))

	// Measure from the change to the new set; each round lands within one
	// interval plus the lookup itself (given 300 ms: one run on a loaded
	// 2-core CI machine took 356 ms).
	var worst time.Duration
	for i, ips := range [][]string{{"127.0.0.3"}, {"127.0.0.3", "127.0.0.4"}, {"127.0.0.5"}} {
		dns.setA("svc.ferry.test", ips...)
		changed := time.Now()
		eps, err = w.Next(t.Context())
		require.NoError(t, err, "round %d", i)
		took := time.Since(changed)
		worst = max(worst, took)
		want := make([]string, len(ips))
		for j, ip := range ips {
			want[j] = ip + ":7000"
		}
		assert.Equal(t, want, addrs(eps))
	}
	t.Logf("DNS: a changed A record was used after at most %v (interval %v)", worst, interval)
	assert.Less(t, worst, interval+300*time.Millisecond)

	// The name disappears: an error, then a new set once it is back.
	dns.setA("svc.ferry.test")
	_, err = w.Next(t.Context())
	require.Error(t, err)
	dns.setA("svc.ferry.test", "127.0.0.9")
	eps, err = w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.9:7000"}, addrs(eps))
}

// ResolveNow makes the next lookup happen long before the interval.
func TestDNSResolveNow(t *testing.T) {
	dns := newDNSServer(t)
	dns.setA("svc.ferry.test", "127.0.0.1")
	r, err := resolver.DNS("svc.ferry.test.:7000", resolver.WithLookup(dns.resolver()),
		resolver.WithInterval(time.Hour))
	require.NoError(t, err)
	w := watch(t, r)
	_, err = w.Next(t.Context())
	require.NoError(t, err)

	dns.setA("svc.ferry.test", "127.0.0.2")
	w.ResolveNow()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	eps, err := w.Next(ctx) // at most one lookup per second after a hint
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.2:7000"}, addrs(eps))
	assert.Less(t, time.Since(start), 2*time.Second)
}

func TestDNSSRV(t *testing.T) {
	dns := newDNSServer(t)
	dns.setA("a.ferry.test", "127.0.0.1")
	dns.setA("b.ferry.test", "127.0.0.2")
	dns.setSRV("_ferry._tcp.ferry.test",
		net.SRV{Target: "a.ferry.test.", Port: 7001, Priority: 1, Weight: 1},
		net.SRV{Target: "b.ferry.test.", Port: 7002, Priority: 1, Weight: 1})
	const interval = 200 * time.Millisecond
	r, err := resolver.SRV("ferry", "tcp", "ferry.test.", resolver.WithLookup(dns.resolver()),
		resolver.WithInterval(interval), resolver.WithIPv4Only())
	require.NoError(t, err)
	w := watch(t, r)
	eps, err := w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:7001", "127.0.0.2:7002"}, addrs(eps))

	dns.setSRV("_ferry._tcp.ferry.test", net.SRV{Target: "b.ferry.test.", Port: 7003})
	changed := time.Now()
	eps, err = w.Next(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.2:7003"}, addrs(eps))
	t.Logf("DNS: a changed SRV record was used after %v (interval %v)", time.Since(changed), interval)
	assert.Less(t, time.Since(changed), interval+100*time.Millisecond)
}

// SRV records carry their priority and weight to the endpoints (RFC 2782);
// an address listed twice keeps its lowest priority.
func TestDNSSRVPriorityAndWeight(t *testing.T) {
	dns := newDNSServer(t)
	dns.setA("a.ferry.test", "127.0.0.1")
	dns.setA("b.ferry.test", "127.0.0.2")
	dns.setA("c.ferry.test", "127.0.0.3", "127.0.0.4")
	dns.setSRV("_ferry._tcp.ferry.test",
		net.SRV{Target: "c.ferry.test.", Port: 7000, Priority: 20, Weight: 5},
		net.SRV{Target: "a.ferry.test.", Port: 7000, Priority: 10, Weight: 60},
		net.SRV{Target: "b.ferry.test.", Port: 7000, Priority: 10, Weight: 0},
		net.SRV{Target: "a.ferry.test.", Port: 7000, Priority: 30, Weight: 1})
	r, err := resolver.SRV("ferry", "tcp", "ferry.test.", resolver.WithLookup(dns.resolver()), resolver.WithIPv4Only())
	require.NoError(t, err)
	eps, err := watch(t, r).Next(t.Context())
	require.NoError(t, err)
	got := map[string]map[string]string{}
	for _, e := range eps {
		got[e.Addr] = e.Attrs
	}
	assert.Equal(t, map[string]map[string]string{
		"127.0.0.1:7000": {resolver.AttrPriority: "10", resolver.AttrWeight: "60"},
		"127.0.0.2:7000": {resolver.AttrPriority: "10", resolver.AttrWeight: "0"},
		"127.0.0.3:7000": {resolver.AttrPriority: "20", resolver.AttrWeight: "5"},
		"127.0.0.4:7000": {resolver.AttrPriority: "20", resolver.AttrWeight: "5"},
	}, got)
}
