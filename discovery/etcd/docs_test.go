package etcd_test

// Tests of what the package doc, the exported doc comments and README.md
// promise that the other tests do not cover.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestDocsOptionRanges checks the option docs that need no etcd: TTL
// "range 2 to 3600", a prefix that must start and end with "/", the
// reserved "instance" attribute, and a nil logger refused.
func TestDocsOptionRanges(t *testing.T) {
	for _, ttl := range []int64{0, 1, 3601} {
		_, err := etcd.NewResolver(nil, "svc", etcd.WithTTL(ttl))
		require.Error(t, err, "TTL %d", ttl)
		assert.True(t, strings.HasPrefix(err.Error(), "ferry: "), err.Error())
	}
	for _, ttl := range []int64{2, 3600} {
		_, err := etcd.NewResolver(nil, "svc", etcd.WithTTL(ttl))
		require.NoError(t, err, "TTL %d", ttl)
	}
	for _, p := range []string{"", "/", "/a/b/"} {
		_, err := etcd.NewResolver(nil, "svc", etcd.WithPrefix(p))
		assert.Equal(t, p != "", err == nil, "prefix %q: %v", p, err)
	}
	for _, p := range []string{"a/", "/a", "a"} {
		_, err := etcd.NewResolver(nil, "svc", etcd.WithPrefix(p))
		assert.Error(t, err, "prefix %q", p)
	}
	_, err := etcd.NewResolver(nil, "svc", etcd.WithLogger(nil))
	assert.Error(t, err)
	_, err = etcd.NewResolver(nil, "svc", etcd.WithAttrs(map[string]string{"zone": "z1"}))
	assert.NoError(t, err)
}

// uniqueService returns a service name of the test's own, for tests that
// use the default prefix.
func uniqueService() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "docs-" + hex.EncodeToString(b[:])
}

// TestDocsKeyValueAndDefaults checks the package doc's layout and
// defaults: "Keys are PREFIX/SERVICE/ADDR (PREFIX defaults to
// "/ferry/services/"), and each value is JSON: {"addr": ADDR, "attrs":
// {"instance": ID, ...}}", the instance id "random per Registration", the
// lease "(the TTL, 10 s by default)", and Close deleting the key at once.
func TestDocsKeyValueAndDefaults(t *testing.T) {
	cli := etcdClient(t)
	service := uniqueService()
	a, err := etcd.Register(t.Context(), cli, service, "127.0.0.1:7001", etcd.WithAttrs(map[string]string{"zone": "z1"}))
	require.NoError(t, err)
	defer a.Close(context.Background())
	b, err := etcd.Register(t.Context(), cli, service, "127.0.0.1:7002")
	require.NoError(t, err)
	defer b.Close(context.Background())

	key := "/ferry/services/" + service + "/127.0.0.1:7001"
	assert.Equal(t, key, a.Key())
	resp, err := cli.Get(t.Context(), key)
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	var rec map[string]any
	require.NoError(t, json.Unmarshal(resp.Kvs[0].Value, &rec), "%s", resp.Kvs[0].Value)
	assert.Equal(t, "127.0.0.1:7001", rec["addr"])
	attrs, ok := rec["attrs"].(map[string]any)
	require.True(t, ok, "%s", resp.Kvs[0].Value)
	assert.Equal(t, "z1", attrs["zone"])
	instanceA, _ := attrs["instance"].(string)
	assert.Len(t, instanceA, 16)
	assert.Equal(t, clientv3.LeaseID(resp.Kvs[0].Lease), a.Lease(), "the key is under the registration's lease")

	ttl, err := cli.TimeToLive(t.Context(), a.Lease())
	require.NoError(t, err)
	assert.Equal(t, int64(10), ttl.GrantedTTL, "10 s by default")

	resp, err = cli.Get(t.Context(), b.Key())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	require.NoError(t, json.Unmarshal(resp.Kvs[0].Value, &rec))
	instanceB, _ := rec["attrs"].(map[string]any)["instance"].(string)
	assert.Len(t, instanceB, 16)
	assert.NotEqual(t, instanceA, instanceB, "random per Registration")

	require.NoError(t, a.Close(t.Context()))
	resp, err = cli.Get(t.Context(), key)
	require.NoError(t, err)
	assert.Empty(t, resp.Kvs, "Close deletes the key at once")

	// A resolver with the default prefix sees what Register wrote with it.
	w := watch(t, cli, service)
	assert.Equal(t, []string{"127.0.0.1:7002"}, addrsOf(next(t, w)))
}

// TestDocsWithTTL checks that WithTTL's value is the lease's.
func TestDocsWithTTL(t *testing.T) {
	cli := etcdClient(t)
	reg, err := etcd.Register(t.Context(), cli, "orders", "127.0.0.1:7001", prefix(t), etcd.WithTTL(37))
	require.NoError(t, err)
	defer reg.Close(context.Background())
	ttl, err := cli.TimeToLive(t.Context(), reg.Lease())
	require.NoError(t, err)
	assert.Equal(t, int64(37), ttl.GrantedTTL)
}

// TestDocsRegisterCtxBounds checks "ctx bounds the first registration,
// which Register waits for".
func TestDocsRegisterCtxBounds(t *testing.T) {
	cli := etcdClient(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := etcd.Register(ctx, cli, "orders", "127.0.0.1:7001", prefix(t))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, strings.HasPrefix(err.Error(), "ferry: etcd: "), err.Error())
}

// logLines is a slog handler's output, safe for concurrent use.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// TestDocsDeletedKeyRegistersAgain checks README.md's "a lost lease or a
// deleted key is noticed at once and the server registers again", and
// WithLogger's lines: "lease lost, registered again".
func TestDocsDeletedKeyRegistersAgain(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	assert.Empty(t, next(t, w))
	var logs logLines
	reg, err := etcd.Register(t.Context(), cli, "orders", "127.0.0.1:7001", p,
		etcd.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	defer reg.Close(context.Background())
	eps := next(t, w)
	require.Len(t, eps, 1)
	instance := eps[0].Attrs["instance"]

	_, err = etcdClient(t).Delete(t.Context(), reg.Key())
	require.NoError(t, err)
	deleted := time.Now()
	assert.Empty(t, next(t, w))
	eps = next(t, w)
	took := time.Since(deleted)
	t.Logf("etcd: a deleted registration was back in the watcher's set after %v", took)
	require.Len(t, eps, 1)
	assert.Equal(t, instance, eps[0].Attrs["instance"], "the same instance")
	require.Eventually(t, func() bool { return reg.Reregistrations() == 1 }, 5*time.Second, time.Millisecond)
	assert.Less(t, took, 2*time.Second, "noticed at once: well within the 10 s TTL")
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "registered again") }, 5*time.Second, time.Millisecond)
	assert.Contains(t, logs.String(), "registration lost")
}

// TestDocsResolverSkipsMalformed checks NewResolver's "A key whose value
// does not parse is skipped", Endpoint.Attrs carrying WithAttrs' facts,
// and a closed watcher's Next returning resolver.ErrClosed.
func TestDocsResolverSkipsMalformed(t *testing.T) {
	cli := etcdClient(t)
	pfx := "/ferry-test/" + uniqueService() + "/"
	p := etcd.WithPrefix(pfx)
	defer func() { _, _ = cli.Delete(context.Background(), pfx, clientv3.WithPrefix()) }()
	for k, v := range map[string]string{
		"orders/bad-json": "{not json", "orders/no-addr": `{"attrs":{"zone":"z"}}`,
		"orders/good": `{"addr":"127.0.0.1:7005","attrs":{"zone":"z9"}}`,
	} {
		_, err := cli.Put(t.Context(), pfx+k, v)
		require.NoError(t, err)
	}
	w := watch(t, cli, "orders", p)
	eps := next(t, w)
	require.Equal(t, []string{"127.0.0.1:7005"}, addrsOf(eps))
	assert.Equal(t, "z9", eps[0].Attrs["zone"])

	// A good key turning bad leaves the set.
	_, err := cli.Put(t.Context(), pfx+"orders/good", "garbage")
	require.NoError(t, err)
	assert.Empty(t, next(t, w))

	w.ResolveNow() // does nothing: etcd pushes every change
	require.NoError(t, w.Close())
	_, err = w.Next(t.Context())
	require.ErrorIs(t, err, resolver.ErrClosed)
}

// This holds the package doc's code, so that a changed signature
// breaks the build of the tests. It is compiled, not run.
var _ = func(ctx context.Context, cli *clientv3.Client, srv *server.Server) error {
	reg, err := etcd.Register(ctx, cli, "orders", "10.0.0.5:7000")
	if err != nil {
		return err
	}
	reg.Close(ctx) // before srv.Shutdown: clients stop sending first
	srv.Shutdown(ctx)

	r, err := etcd.NewResolver(cli, "orders")
	if err != nil {
		return err
	}
	c, err := cluster.New(r)
	_ = c
	return err
}
