package resolver_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/resolver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// silentDNS is a DNS server on loopback that reads queries and answers
// none (a DNS server out of reach) until the test ends: then it answers
// each, the held ones included, with NXDOMAIN, so that the lookups Go's
// resolver goes on with in the background after their caller gave up end
// before the leak check.
func silentDNS(t *testing.T) *net.Resolver {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	type query struct {
		msg  []byte
		from net.Addr
	}
	var mu sync.Mutex
	var held []query
	answering := false
	nxdomain := func(q query) {
		if len(q.msg) < 12 {
			return
		}
		q.msg[2] |= 0x84                // a response, authoritative
		q.msg[3] = q.msg[3]&0x70 | 0x03 // NXDOMAIN
		_, _ = pc.WriteTo(q.msg, q.from)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			buf := make([]byte, 1500)
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			mu.Lock()
			if answering {
				nxdomain(query{buf[:n], from})
			} else {
				held = append(held, query{buf[:n], from})
			}
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		answering = true
		for _, q := range held {
			nxdomain(q)
		}
		mu.Unlock()
		// Answer for a moment longer, for lookups that were between
		// attempts.
		time.AfterFunc(200*time.Millisecond, func() { pc.Close() })
		<-done
	})
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", pc.LocalAddr().String())
	}}
}

// TestVcluster13LookupTimeoutBoundsALookup: "WithLookupTimeout bounds one
// lookup", against a DNS server that never answers, for A and SRV.
func TestVcluster13LookupTimeoutBoundsALookup(t *testing.T) {
	dns := silentDNS(t)
	a, err := resolver.DNS("svc.test:7000", resolver.WithLookup(dns), resolver.WithLookupTimeout(200*time.Millisecond))
	require.NoError(t, err)
	srv, err := resolver.SRV("ferry", "tcp", "svc.test", resolver.WithLookup(dns), resolver.WithLookupTimeout(200*time.Millisecond))
	require.NoError(t, err)
	for name, r := range map[string]resolver.Resolver{"DNS": a, "SRV": srv} {
		w := watch(t, r)
		start := time.Now()
		_, err := w.Next(t.Context())
		took := time.Since(start)
		t.Logf("%s: a lookup with no answer failed after %v: %v", name, took, err)
		require.Error(t, err)
		assert.Less(t, took, time.Second, name)
	}
}

// TestVcluster13CloseEndsALookup: Next "After Close, or when ctx ends, ...
// returns an error at once", also while a lookup is waiting for a DNS
// server that does not answer.
func TestVcluster13CloseEndsALookup(t *testing.T) {
	r, err := resolver.DNS("svc.test:7000", resolver.WithLookup(silentDNS(t)), resolver.WithLookupTimeout(10*time.Second))
	require.NoError(t, err)
	w, err := r.Watch(t.Context())
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() {
		_, err := w.Next(t.Context())
		errc <- err
	}()
	select {
	case err := <-errc:
		require.Failf(t, "Next returned with no DNS answer", "%v", err)
	case <-time.After(300 * time.Millisecond): // the lookup is under way
	}
	closed := time.Now()
	require.NoError(t, w.Close())
	select {
	case err := <-errc:
		t.Logf("Next returned %v after Close", time.Since(closed))
		require.ErrorIs(t, err, resolver.ErrClosed)
	case <-time.After(time.Second):
		assert.Fail(t, "Next still waits 1 s after Close")
		<-errc // the lookup's own timeout ends it
	}

	// A Watcher closed before its first Next looks nothing up.
	w, err = r.Watch(t.Context())
	require.NoError(t, err)
	require.NoError(t, w.Close())
	start := time.Now()
	_, err = w.Next(t.Context())
	require.ErrorIs(t, err, resolver.ErrClosed)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
}
