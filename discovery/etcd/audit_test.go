package etcd_test

// Tests of the package's doc promises that the other tests leave open.

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestAuditResolverSetSemantics checks NewResolver against the
// resolver.Watcher contract and the key layout PREFIX/SERVICE/ADDR: a
// service sees only its own keys (not those of a service whose name it
// prefixes), the set comes sorted by Addr, rewriting a key with the same
// value does not wake Next ("blocks until the set differs"), and Next
// returns at once when its ctx has ended.
func TestAuditResolverSetSemantics(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	assert.Empty(t, next(t, w))

	var regs []*etcd.Registration
	defer func() {
		for _, r := range regs {
			_ = r.Close(context.Background())
		}
	}()
	for _, a := range []struct{ service, addr string }{
		{"orders2", "127.0.0.1:7009"}, {"orders", "127.0.0.1:7003"}, {"orders", "127.0.0.1:7001"}, {"orders", "127.0.0.1:7002"},
	} {
		r, err := etcd.Register(t.Context(), cli, a.service, a.addr, p)
		require.NoError(t, err)
		regs = append(regs, r)
	}
	var got []string
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if eps, err := w.Next(ctx); err == nil {
			got = addrsOf(eps)
		}
		return len(got) == 3
	}, 15*time.Second, time.Millisecond)
	assert.Equal(t, []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"}, got, "sorted, and no key of orders2")

	// The same value again: the set does not differ.
	key := regs[1].Key()
	resp, err := cli.Get(t.Context(), key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	_, err = cli.Put(t.Context(), key, string(resp.Kvs[0].Value), clientv3WithLease(regs[1]))
	require.NoError(t, err)
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err = w.Next(short)
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded, "an unchanged set does not wake Next")

	ended, cancelEnded := context.WithCancel(t.Context())
	cancelEnded()
	start := time.Now()
	_, err = w.Next(ended)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Less(t, time.Since(start), time.Second, "at once")
}

// clientv3WithLease keeps a rewritten key on the registration's lease.
func clientv3WithLease(r *etcd.Registration) clientv3.OpOption { return clientv3.WithLease(r.Lease()) }

// TestAuditCloseCtxBoundsRevoke checks Close's "ctx bounds the revoke":
// with a ctx already ended Close fails at once, the key stays on its lease,
// which no longer kept alive ("stops the keep-alive") expires within the
// TTL, so watchers drop the server then.
func TestAuditCloseCtxBoundsRevoke(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	assert.Empty(t, next(t, w))
	reg, err := etcd.Register(t.Context(), cli, "orders", "127.0.0.1:7001", p, etcd.WithTTL(2))
	require.NoError(t, err)
	require.Len(t, next(t, w), 1)

	ended, cancel := context.WithCancel(t.Context())
	cancel()
	start := time.Now()
	err = reg.Close(ended)
	require.Error(t, err)
	assert.Less(t, time.Since(start), time.Second)
	resp, err := cli.Get(t.Context(), reg.Key())
	require.NoError(t, err)
	assert.Len(t, resp.Kvs, 1, "not revoked")
	assert.Empty(t, next(t, w), "the lease expired")
	assert.Less(t, time.Since(start), 6*time.Second, "within the TTL (and etcd's expiry granularity)")
	t.Logf("the key left %v after Close", time.Since(start))
}
