package resolver_test

// Tests of resolver's doc promises that the other tests leave open.

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditManualSeesEveryUpdateAndFail checks Manual's "Every Watcher
// sees every Update and Fail made after its previous Next returned
// (updates in between coalesce into the latest)": an Update followed by a
// Fail yields both, the set and then the error, and a Fail followed by an
// Update yields the error and then the set. The set is not lost behind
// the Fail.
func TestAuditManualSeesEveryUpdateAndFail(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	boom := errors.New("boom")
	m := resolver.NewManual(resolver.Endpoint{Addr: "a:1"})
	w, err := m.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	set, err := w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "a:1"}}, set)

	m.Update(resolver.Endpoint{Addr: "b:1"})
	m.Update(resolver.Endpoint{Addr: "c:1"})
	m.Fail(boom)
	set, err = w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "c:1"}}, set, "the latest set first")
	_, err = w.Next(ctx)
	assert.ErrorIs(t, err, boom, "then the Fail made after it")

	m.Fail(boom)
	m.Update(resolver.Endpoint{Addr: "d:1"})
	_, err = w.Next(ctx)
	assert.ErrorIs(t, err, boom, "the Fail first")
	set, err = w.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "d:1"}}, set, "then the set made after it")

	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	_, err = w.Next(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "each once")
}

// TestAuditManualEmptyWaits checks NewManual's "without [endpoints],
// Watchers wait for the first Update", and Watcher.Next's "when ctx ends,
// it returns an error at once".
func TestAuditManualEmptyWaits(t *testing.T) {
	m := resolver.NewManual()
	w, err := m.Watch(t.Context())
	require.NoError(t, err)
	defer w.Close()
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	_, err = w.Next(short)
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	got := make(chan []resolver.Endpoint, 1)
	go func() {
		set, _ := w.Next(t.Context())
		got <- set
	}()
	m.Update(resolver.Endpoint{Addr: "a:1"})
	select {
	case set := <-got:
		assert.Equal(t, []resolver.Endpoint{{Addr: "a:1"}}, set)
	case <-time.After(5 * time.Second):
		t.Fatal("the first Update did not reach the waiting Watcher")
	}

	ended, cancelEnded := context.WithCancel(t.Context())
	cancelEnded()
	start := time.Now()
	_, err = w.Next(ended)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second)
}

// TestAuditStaticForever checks Static's "whose set is addrs, forever":
// after the first set, Next blocks until its ctx ends.
func TestAuditStaticForever(t *testing.T) {
	w, err := resolver.Static("a:1").Watch(t.Context())
	require.NoError(t, err)
	defer w.Close()
	_, err = w.Next(t.Context())
	require.NoError(t, err)
	w.ResolveNow() // never blocks, changes nothing
	short, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err = w.Next(short)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// countingLookup answers LookupNetIP with 10.0.0.N, N counting lookups,
// or with an error when fail is set; it records the networks asked.
type countingLookup struct {
	mu       sync.Mutex
	n        int
	at       []time.Time
	fail     bool
	networks []string
}

func (c *countingLookup) LookupNetIP(_ context.Context, network, _ string) ([]netip.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	c.at = append(c.at, time.Now())
	c.networks = append(c.networks, network)
	if c.fail {
		return nil, errors.New("injected lookup failure")
	}
	return []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(c.n)})}, nil
}

func (c *countingLookup) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, errors.New("no SRV here")
}

func (c *countingLookup) times() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.at)
}

// TestAuditDNSPacing checks DNS's pacing: Next "paces its retries itself"
// (a failing lookup is tried again only after the interval), a ResolveNow
// hint triggers a lookup "at most one per second" after the previous one,
// and without WithIPv4Only the lookups ask for A and AAAA ("ip").
func TestAuditDNSPacing(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	failing := &countingLookup{fail: true}
	r, err := resolver.DNS("svc.example:7000", resolver.WithLookup(failing), resolver.WithInterval(100*time.Millisecond))
	require.NoError(t, err)
	w, err := r.Watch(ctx)
	require.NoError(t, err)
	defer w.Close()
	for range 3 {
		_, err := w.Next(ctx)
		require.Error(t, err)
	}
	at := failing.times()
	require.Len(t, at, 3, "one lookup per Next")
	for i := 1; i < len(at); i++ {
		assert.GreaterOrEqual(t, at[i].Sub(at[i-1]), 90*time.Millisecond, "retries paced by the interval")
	}
	assert.Equal(t, []string{"ip", "ip", "ip"}, failing.networks, "A and AAAA by default")

	hinted := &countingLookup{}
	r, err = resolver.DNS("svc.example:7000", resolver.WithLookup(hinted), resolver.WithInterval(time.Hour))
	require.NoError(t, err)
	hw, err := r.Watch(ctx)
	require.NoError(t, err)
	defer hw.Close()
	set, err := hw.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "10.0.0.1:7000"}}, set)
	for range 5 {
		hw.ResolveNow()
	}
	set, err = hw.Next(ctx)
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "10.0.0.2:7000"}}, set, "a hint brought a lookup long before the hour")
	at = hinted.times()
	require.Len(t, at, 2, "five hints, one lookup")
	assert.GreaterOrEqual(t, at[1].Sub(at[0]), 950*time.Millisecond, "at most one lookup per second")
}

// srvLookup answers SRV lookups from a list and host lookups from a table.
type srvLookup struct {
	srvs  []*net.SRV
	hosts map[string]string
}

func (s *srvLookup) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := s.hosts[host]; ok {
		return []netip.Addr{netip.MustParseAddr(a)}, nil
	}
	return nil, errors.New("no such host")
}

func (s *srvLookup) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", s.srvs, nil
}

// TestAuditSRVTargets checks SRV's "A target that does not resolve is
// left out of the set; a lookup that fails, or whose targets give no
// address at all, is an error", including no SRV records at all.
func TestAuditSRVTargets(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	next := func(l resolver.Lookup) ([]resolver.Endpoint, error) {
		r, err := resolver.SRV("ferry", "tcp", "svc.example", resolver.WithLookup(l))
		require.NoError(t, err)
		w, err := r.Watch(ctx)
		require.NoError(t, err)
		defer w.Close()
		return w.Next(ctx)
	}
	set, err := next(&srvLookup{
		srvs:  []*net.SRV{{Target: "gone.example", Port: 7000}, {Target: "a.example", Port: 7001, Weight: 5}},
		hosts: map[string]string{"a.example": "10.0.0.1"},
	})
	require.NoError(t, err)
	assert.Equal(t, []resolver.Endpoint{{Addr: "10.0.0.1:7001", Attrs: map[string]string{resolver.AttrPriority: "0", resolver.AttrWeight: "5"}}}, set)

	_, err = next(&srvLookup{srvs: []*net.SRV{{Target: "gone.example", Port: 7000}}})
	assert.Error(t, err, "no target resolves")
	_, err = next(&srvLookup{})
	assert.Error(t, err, "no SRV records")
}
