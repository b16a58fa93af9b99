package etcd_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// gRPC's process-wide background goroutines, started by the first
		// etcd client and never stopped.
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreTopFunction("google.golang.org/grpc/internal/resolver/dns.(*dnsResolver).watcher"),
	)
}

// etcdClient connects to the etcd of FERRY_ETCD_ENDPOINTS, or skips the
// test when it is unset: start one with `bash .ci/etcd.sh` (see there).
func etcdClient(t *testing.T) *clientv3.Client {
	t.Helper()
	eps := os.Getenv("FERRY_ETCD_ENDPOINTS")
	if eps == "" {
		t.Skip("FERRY_ETCD_ENDPOINTS is unset: no etcd to test against. Run the tests under `bash .ci/etcd.sh go test ./...` " +
			"(from discovery/etcd: bash ../../.ci/etcd.sh go test ./...)")
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(eps, ","),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { cli.Close() })
	return cli
}

// prefix is a key prefix of the test's own, so runs never see each other.
func prefix(t *testing.T) etcd.Option {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return etcd.WithPrefix("/ferry-test/" + hex.EncodeToString(b[:]) + "/")
}

func watch(t *testing.T, cli *clientv3.Client, service string, opts ...etcd.Option) resolver.Watcher {
	t.Helper()
	r, err := etcd.NewResolver(cli, service, opts...)
	require.NoError(t, err)
	w, err := r.Watch(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { w.Close() })
	return w
}

// next returns the next set within 15 s.
func next(t *testing.T, w resolver.Watcher) []resolver.Endpoint {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	eps, err := w.Next(ctx)
	require.NoError(t, err)
	return eps
}

func addrsOf(eps []resolver.Endpoint) []string {
	out := []string{}
	for _, e := range eps {
		out = append(out, e.Addr)
	}
	return out
}

func TestOptionsValidated(t *testing.T) {
	_, err := etcd.NewResolver(nil, "")
	require.Error(t, err)
	_, err = etcd.NewResolver(nil, "a/b")
	require.Error(t, err)
	_, err = etcd.NewResolver(nil, "svc", etcd.WithPrefix("nope"))
	require.Error(t, err)
	_, err = etcd.Register(t.Context(), nil, "svc", "a:1", etcd.WithTTL(1))
	require.Error(t, err)
	_, err = etcd.Register(t.Context(), nil, "svc", "a:1", etcd.WithAttrs(map[string]string{"instance": "x"}))
	require.Error(t, err)
	_, err = etcd.Register(t.Context(), nil, "svc", "")
	require.Error(t, err)
}

// Registrations appear in watchers' sets; a graceful Close revokes the
// lease and the endpoint leaves every set within 1 s.
func TestRegisterAndGracefulClose(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	assert.Empty(t, next(t, w))

	a, err := etcd.Register(t.Context(), cli, "orders", "127.0.0.1:7001", p, etcd.WithAttrs(map[string]string{"zone": "z1"}))
	require.NoError(t, err)
	eps := next(t, w)
	require.Equal(t, []string{"127.0.0.1:7001"}, addrsOf(eps))
	assert.Equal(t, "z1", eps[0].Attrs["zone"])
	assert.Len(t, eps[0].Attrs["instance"], 16)

	b, err := etcd.Register(t.Context(), cli, "orders", "127.0.0.1:7002", p)
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1:7001", "127.0.0.1:7002"}, addrsOf(next(t, w)))

	// Another service under the same prefix is not seen.
	other, err := etcd.Register(t.Context(), cli, "billing", "127.0.0.1:7003", p)
	require.NoError(t, err)
	defer other.Close(t.Context())

	start := time.Now()
	require.NoError(t, a.Close(t.Context()))
	require.Equal(t, []string{"127.0.0.1:7002"}, addrsOf(next(t, w)))
	took := time.Since(start)
	t.Logf("etcd: a gracefully closed registration left the watcher's set after %v", took)
	assert.Less(t, took, time.Second)
	require.NoError(t, b.Close(t.Context()))
	assert.Empty(t, next(t, w))
	require.NoError(t, a.Close(t.Context()), "Close twice")
}

// A crashed server (its etcd client gone without revoking: no more
// keep-alives) leaves the set within TTL + 1 s. The default TTL is 10 s;
// this test uses 3 s, or the default with FERRY_LONG_TESTS=1.
func TestCrashLeavesWithinTTL(t *testing.T) {
	cli := etcdClient(t)
	ttl := int64(3)
	if os.Getenv("FERRY_LONG_TESTS") != "" {
		ttl = 10
	}
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	assert.Empty(t, next(t, w))

	crashing := etcdClient(t)
	reg, err := etcd.Register(t.Context(), crashing, "orders", "127.0.0.1:7001", p, etcd.WithTTL(ttl))
	require.NoError(t, err)
	defer func() { // only to end its goroutine: the revoke fails
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = reg.Close(ctx)
	}()
	require.Equal(t, []string{"127.0.0.1:7001"}, addrsOf(next(t, w)))

	// Crash at once: the lease then has its whole TTL left, the worst case.
	crashing.Close()
	crashed := time.Now()
	assert.Empty(t, next(t, w))
	took := time.Since(crashed)
	t.Logf("etcd: a crashed registration (TTL %d s) left the watcher's set after %v", ttl, took)
	assert.Less(t, took, time.Duration(ttl)*time.Second+time.Second)
}

// A lost lease (revoked behind the registration's back, as after an etcd
// restart or a long partition) is noticed and the server registers again,
// as the same instance.
func TestReregisterAfterLeaseLoss(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	assert.Empty(t, next(t, w))
	reg, err := etcd.Register(t.Context(), cli, "orders", "127.0.0.1:7001", p)
	require.NoError(t, err)
	defer reg.Close(t.Context())
	eps := next(t, w)
	require.Len(t, eps, 1)
	instance := eps[0].Attrs["instance"]
	lease := reg.Lease()

	admin := etcdClient(t)
	_, err = admin.Revoke(t.Context(), lease)
	require.NoError(t, err)
	lost := time.Now()
	assert.Empty(t, next(t, w))
	eps = next(t, w)
	t.Logf("etcd: after losing its lease, the server was registered again in %v", time.Since(lost))
	require.Len(t, eps, 1)
	assert.Equal(t, instance, eps[0].Attrs["instance"])
	// The new key can reach the watcher before Put returns to the
	// registration.
	require.Eventually(t, func() bool { return reg.Reregistrations() == 1 }, 5*time.Second, time.Millisecond)
	assert.NotEqual(t, lease, reg.Lease())
	assert.Less(t, time.Since(lost), time.Second)
}

// End to end: Ferry servers registered in etcd, a cluster client watching.
// A server that deregisters and shuts down leaves without failed calls; a
// new one is used as soon as it registers.
func TestClusterOverEtcd(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	type srv struct {
		addr string
		reg  *etcd.Registration
		s    *server.Server
		done chan error
	}
	start := func(name string) *srv {
		s := server.New()
		require.NoError(t, health.NewServer().Register(s))
		require.NoError(t, server.Handle(s, "Svc.Who", func(context.Context, *struct{}) (*string, error) { return &name, nil }))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		out := &srv{addr: l.Addr().String(), s: s, done: make(chan error, 1)}
		go func() { out.done <- s.Serve(l) }()
		out.reg, err = etcd.Register(t.Context(), cli, "svc", out.addr, p)
		require.NoError(t, err)
		t.Cleanup(func() { out.reg.Close(context.Background()); s.Close(); <-out.done })
		return out
	}
	a, _ := start("a"), start("b")
	r, err := etcd.NewResolver(cli, "svc", p)
	require.NoError(t, err)
	c, err := cluster.New(r)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, 2))

	// Graceful: deregister, then shut down.
	require.NoError(t, a.reg.Close(t.Context()))
	require.Eventually(t, func() bool { return len(c.Endpoints()) == 1 }, time.Second, time.Millisecond)
	require.NoError(t, a.s.Shutdown(t.Context()))
	for range 50 {
		var who string
		require.NoError(t, c.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		assert.Equal(t, "b", who)
	}

	start("c")
	require.NoError(t, c.WaitReady(ctx, 2))
	seen := map[string]bool{}
	for range 100 {
		var who string
		require.NoError(t, c.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		seen[who] = true
	}
	assert.Equal(t, map[string]bool{"b": true, "c": true}, seen)
}
