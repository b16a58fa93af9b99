package etcd_test

// Tests of what the docs promise when etcd itself restarts or is out of
// reach, against an etcd of the test's own (it needs the etcd binary, the
// one .ci/etcd.sh installs, and runs only where FERRY_ETCD_ENDPOINTS is
// set, like the other tests), and of many servers behind one registry.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// ownEtcd is an etcd process of one test, which the test may stop and
// start again on the same ports, with or without its data.
type ownEtcd struct {
	t                  *testing.T
	bin                string
	dir                string
	clientURL, peerURL string
	cmd                *exec.Cmd
	exited             chan struct{}
}

// freePort returns a loopback port that was free a moment ago: etcd takes
// its ports by number, and keeps them across a restart.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startOwnEtcd starts an etcd of the test's own, or skips the test when
// there is no etcd binary or no FERRY_ETCD_ENDPOINTS (the tests' signal
// that etcd tests are wanted).
func startOwnEtcd(t *testing.T) *ownEtcd {
	t.Helper()
	if os.Getenv("FERRY_ETCD_ENDPOINTS") == "" {
		t.Skip("FERRY_ETCD_ENDPOINTS is unset: no etcd tests")
	}
	bin, err := exec.LookPath("etcd")
	if err != nil {
		t.Skip("no etcd binary to restart")
	}
	e := &ownEtcd{t: t, bin: bin, dir: t.TempDir(),
		clientURL: fmt.Sprintf("http://127.0.0.1:%d", freePort(t)),
		peerURL:   fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	e.start()
	t.Cleanup(e.stop)
	return e
}

func (e *ownEtcd) start() {
	e.t.Helper()
	e.cmd = exec.Command(e.bin, "--name", "own", "--data-dir", filepath.Join(e.dir, "data"),
		"--listen-client-urls", e.clientURL, "--advertise-client-urls", e.clientURL,
		"--listen-peer-urls", e.peerURL, "--initial-advertise-peer-urls", e.peerURL,
		"--initial-cluster", "own="+e.peerURL)
	log, err := os.OpenFile(filepath.Join(e.dir, "etcd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(e.t, err)
	e.cmd.Stdout, e.cmd.Stderr = log, log
	require.NoError(e.t, e.cmd.Start())
	e.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		_ = cmd.Wait()
		log.Close()
		close(exited)
	}(e.cmd, e.exited)
	hc := &http.Client{Timeout: time.Second}
	require.Eventually(e.t, func() bool {
		resp, err := hc.Get(e.clientURL + "/health")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b [64]byte
		n, _ := resp.Body.Read(b[:])
		return strings.Contains(string(b[:n]), `"health":"true"`)
	}, 30*time.Second, 20*time.Millisecond, "etcd did not become healthy")
}

// stop kills etcd (SIGKILL: a crash) and waits for it to exit.
func (e *ownEtcd) stop() {
	if e.cmd == nil {
		return
	}
	_ = e.cmd.Process.Kill()
	<-e.exited
	e.cmd = nil
}

// wipe removes etcd's data: the next start is a new, empty etcd.
func (e *ownEtcd) wipe() {
	require.NoError(e.t, os.RemoveAll(filepath.Join(e.dir, "data")))
}

func (e *ownEtcd) client() *clientv3.Client {
	e.t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.clientURL}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(e.t, err)
	e.t.Cleanup(func() { cli.Close() })
	return cli
}

// nextWithin returns the next set, or nil and the error when none comes
// within d.
func nextWithin(t *testing.T, w resolver.Watcher, d time.Duration) ([]resolver.Endpoint, error) {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	return w.Next(ctx)
}

// waitSet calls Next until the set's addresses are want, for at most d,
// and returns how long that took.
func waitSet(t *testing.T, w resolver.Watcher, want []string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var got []string
	for time.Since(start) < d {
		eps, err := nextWithin(t, w, d-time.Since(start))
		if err != nil {
			continue
		}
		got = addrsOf(eps)
		if strings.Join(got, ",") == strings.Join(want, ",") {
			return time.Since(start)
		}
	}
	require.Failf(t, "the set never became the one wanted", "want %v, last %v", want, got)
	return 0
}

// TestVcluster13EtcdRestartKeepsRegistrations: etcd crashes and comes back
// with its data (a restart). The docs: a lost lease is noticed and the
// server registers again; the resolver keeps following. A server that
// registers after the restart, and one that deregisters, reach the client.
func TestVcluster13EtcdRestartKeepsRegistrations(t *testing.T) {
	t.Parallel() // it mostly waits on an etcd of its own or behind its own proxy
	e := startOwnEtcd(t)
	srvCli, cliCli := e.client(), e.client()
	w := watch(t, cliCli, "orders")
	require.Empty(t, next(t, w))
	a, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7001", etcd.WithTTL(3))
	require.NoError(t, err)
	defer a.Close(context.Background())
	waitSet(t, w, []string{"127.0.0.1:7001"}, 10*time.Second)

	e.stop()
	e.start()
	b, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7002", etcd.WithTTL(3))
	require.NoError(t, err)
	defer b.Close(context.Background())
	took := waitSet(t, w, []string{"127.0.0.1:7001", "127.0.0.1:7002"}, 20*time.Second)
	t.Logf("after an etcd restart, a new registration reached the watcher in %v", took)
	require.NoError(t, a.Close(t.Context()))
	waitSet(t, w, []string{"127.0.0.1:7002"}, 10*time.Second)
}

// TestVcluster13EtcdWipedRegistersAgain: etcd comes back empty (its data
// lost: a throwaway etcd, a member rebuilt). The doc: "if the lease is ever
// lost (etcd restarted, a long partition), it registers again", and the
// resolver "follows etcd's watch, so a change reaches the client as soon
// as etcd applies it": the server is registered again, and the watcher
// sees it.
func TestVcluster13EtcdWipedRegistersAgain(t *testing.T) {
	t.Parallel() // it mostly waits on an etcd of its own or behind its own proxy
	e := startOwnEtcd(t)
	srvCli, cliCli := e.client(), e.client()
	w := watch(t, cliCli, "orders")
	require.Empty(t, next(t, w))
	// Some history, so that the old etcd's revision is ahead of the new one's.
	for i := range 20 {
		_, err := cliCli.Put(t.Context(), fmt.Sprintf("/other/%d", i), "x")
		require.NoError(t, err)
	}
	a, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7001", etcd.WithTTL(3))
	require.NoError(t, err)
	defer a.Close(context.Background())
	waitSet(t, w, []string{"127.0.0.1:7001"}, 10*time.Second)

	e.stop()
	e.wipe()
	e.start()
	require.Eventually(t, func() bool {
		resp, err := cliCli.Get(t.Context(), a.Key())
		return err == nil && len(resp.Kvs) == 1
	}, 20*time.Second, 50*time.Millisecond, "the server registered again in the new etcd")
	require.Eventually(t, func() bool { return a.Reregistrations() >= 1 }, 5*time.Second, time.Millisecond)
	b, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7002", etcd.WithTTL(3))
	require.NoError(t, err)
	defer b.Close(context.Background())
	took := waitSet(t, w, []string{"127.0.0.1:7001", "127.0.0.1:7002"}, 20*time.Second)
	t.Logf("after etcd came back empty, the watcher saw the set in %v", took)
}

// cutProxy forwards TCP connections to target until cut, which closes
// them all and refuses new ones until mend.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	cutNow bool
	conns  []net.Conn
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &cutProxy{l: l, target: target}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(func() { l.Close(); p.cut(); p.wg.Wait() })
	return p
}

func (p *cutProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cutNow {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, up)
		p.wg.Add(2)
		p.mu.Unlock()
		go func() { defer p.wg.Done(); _, _ = io.Copy(up, c); up.Close(); c.Close() }()
		go func() { defer p.wg.Done(); _, _ = io.Copy(c, up); up.Close(); c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutNow = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) mend() {
	p.mu.Lock()
	p.cutNow = false
	p.mu.Unlock()
}

// TestVcluster13DeletedKeyNoticedAfterCompactedWatch: the server's etcd
// connection breaks for a moment, during which etcd compacts its history
// (as etcd's auto-compaction does), so the registration's watch of its own
// key cannot resume where it left off. The README: "a lost lease or a
// deleted key is noticed at once and the server registers again". A key
// deleted after that must still come back.
func TestVcluster13DeletedKeyNoticedAfterCompactedWatch(t *testing.T) {
	t.Parallel() // it mostly waits on an etcd of its own or behind its own proxy
	e := startOwnEtcd(t)
	admin := e.client()
	proxy := newCutProxy(t, strings.TrimPrefix(e.clientURL, "http://"))
	srvCli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.l.Addr().String()},
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer srvCli.Close()
	reg, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7001", etcd.WithTTL(10))
	require.NoError(t, err)
	defer reg.Close(context.Background())

	proxy.cut()
	var rev int64
	for i := range 10 {
		resp, err := admin.Put(t.Context(), fmt.Sprintf("/other/%d", i), "x")
		require.NoError(t, err)
		rev = resp.Header.Revision
	}
	_, err = admin.Compact(t.Context(), rev)
	require.NoError(t, err)
	proxy.mend()
	// The registration's client is back once it reads through the proxy.
	require.Eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err := srvCli.Get(ctx, reg.Key())
		return err == nil
	}, 15*time.Second, 50*time.Millisecond, "the server's etcd client is back")

	_, err = admin.Delete(t.Context(), reg.Key())
	require.NoError(t, err)
	deleted := time.Now()
	require.Eventually(t, func() bool {
		resp, err := admin.Get(t.Context(), reg.Key())
		return err == nil && len(resp.Kvs) == 1
	}, 5*time.Second, 20*time.Millisecond, "the deleted key came back")
	t.Logf("the deleted key came back after %v", time.Since(deleted))
}

// TestVcluster13LongPartitionRegistersAgain: the server loses etcd for
// longer than its TTL while etcd runs on ("a long partition"): its lease
// expires, so clients drop it; once the partition heals it registers
// again, and clients see it.
func TestVcluster13LongPartitionRegistersAgain(t *testing.T) {
	t.Parallel() // it mostly waits on an etcd of its own or behind its own proxy
	e := startOwnEtcd(t)
	admin := e.client()
	proxy := newCutProxy(t, strings.TrimPrefix(e.clientURL, "http://"))
	srvCli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.l.Addr().String()},
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer srvCli.Close()
	w := watch(t, admin, "orders")
	require.Empty(t, next(t, w))
	reg, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7001", etcd.WithTTL(2))
	require.NoError(t, err)
	defer reg.Close(context.Background())
	waitSet(t, w, []string{"127.0.0.1:7001"}, 10*time.Second)

	proxy.cut()
	cut := time.Now()
	waitSet(t, w, []string{}, 10*time.Second)
	t.Logf("the partitioned server left the set after %v (TTL 2 s)", time.Since(cut))
	proxy.mend()
	mended := time.Now()
	waitSet(t, w, []string{"127.0.0.1:7001"}, 30*time.Second)
	t.Logf("after the partition healed, the server was back in the set in %v", time.Since(mended))
}

// crashable is a Ferry server registered in etcd through an etcd client
// of its own, so that a crash (server.Close, the client closed without a
// revoke) leaves its key to expire with its lease.
type crashable struct {
	name string
	addr string
	s    *server.Server
	cli  *clientv3.Client
	reg  *etcd.Registration
	done chan error
}

// TestVcluster13ManyServersOverEtcd: eight servers registered in etcd, one
// cluster client. Round-robin sends each endpoint its turn; when half the
// servers crash under load, idempotent calls never fail, a call that may
// have run is never run twice (not idempotent: not retried), every call
// that succeeded ran once, and the crashed servers leave the registry
// within their TTL.
func TestVcluster13ManyServersOverEtcd(t *testing.T) {
	eps := os.Getenv("FERRY_ETCD_ENDPOINTS")
	cli := etcdClient(t)
	p := prefix(t)
	var runs sync.Map // call id → *atomic.Int64
	start := func(name string) *crashable {
		s := server.New()
		require.NoError(t, health.NewServer().Register(s))
		require.NoError(t, server.Handle(s, "Svc.Who", func(context.Context, *struct{}) (*string, error) { return &name, nil }))
		require.NoError(t, server.Handle(s, "Svc.Do", func(_ context.Context, id *int64) (*string, error) {
			n, _ := runs.LoadOrStore(*id, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
			time.Sleep(time.Millisecond) // some work, so that calls are in flight at the crash
			return &name, nil
		}))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		c := &crashable{name: name, addr: l.Addr().String(), s: s, done: make(chan error, 1)}
		go func() { c.done <- s.Serve(l) }()
		c.cli, err = clientv3.New(clientv3.Config{Endpoints: strings.Split(eps, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
		require.NoError(t, err)
		c.reg, err = etcd.Register(t.Context(), c.cli, "svc", c.addr, p, etcd.WithTTL(2))
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = c.reg.Close(ctx)
			c.cli.Close()
			s.Close()
			<-c.done
		})
		return c
	}
	const n = 8
	var srvs []*crashable
	for i := range n {
		srvs = append(srvs, start(fmt.Sprintf("s%d", i)))
	}
	r, err := etcd.NewResolver(cli, "svc", p)
	require.NoError(t, err)
	c, err := cluster.New(r, cluster.WithBalancer(balancer.RoundRobin()), cluster.WithIdempotent("Svc.Who"))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, n))

	per := map[string]int{}
	for range 100 * n {
		var who string
		require.NoError(t, c.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		per[who]++
	}
	t.Logf("round-robin, %d calls over %d servers: %v", 100*n, n, per)
	for _, s := range srvs {
		// Each endpoint in turn; a rebuilt picker (an endpoint's state
		// changed) starts its turn afresh, which may cost one turn.
		assert.InDelta(t, 100, per[s.name], 2, "round-robin: %s's share", s.name)
	}

	// Load: idempotent and not, from 16 callers, until the crash has been
	// absorbed.
	var nextID atomic.Int64
	var whoFailed, doOK, doFailed atomic.Int64
	var wrongErr sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var who string
				if err := c.Call(t.Context(), "Svc.Who", struct{}{}, &who); err != nil {
					whoFailed.Add(1)
					if ferry.CodeOf(err) != ferry.CodeUnavailable {
						wrongErr.Store("Svc.Who: "+err.Error(), true)
					}
				}
				id := nextID.Add(1)
				if err := c.Call(t.Context(), "Svc.Do", id, &who); err != nil {
					doFailed.Add(1)
					if ferry.NotExecuted(err) {
						if v, ok := runs.Load(id); ok && v.(*atomic.Int64).Load() > 0 {
							wrongErr.Store("not executed, but ran: "+err.Error(), true)
						}
					} else if ferry.CodeOf(err) != ferry.CodeUnavailable {
						wrongErr.Store("Svc.Do: "+err.Error(), true)
					}
				} else {
					doOK.Add(1)
					if v, ok := runs.Load(id); !ok || v.(*atomic.Int64).Load() != 1 {
						wrongErr.Store(fmt.Sprintf("call %d succeeded but did not run once", id), true)
					}
				}
			}
		}()
	}
	require.Eventually(t, func() bool { return doOK.Load() > 500 }, 10*time.Second, time.Millisecond)
	crashed := time.Now()
	for _, s := range srvs[:n/2] {
		s.cli.Close()
		s.s.Close()
	}
	w := watch(t, cli, "svc", p)
	waitSet(t, w, func() []string {
		var out []string
		for _, s := range srvs[n/2:] {
			out = append(out, s.addr)
		}
		slices.Sort(out)
		return out
	}(), 15*time.Second)
	t.Logf("the crashed servers left the registry %v after the crash (TTL 2 s)", time.Since(crashed))
	okAtCrash := doOK.Load()
	require.Eventually(t, func() bool { return doOK.Load() > okAtCrash+500 }, 10*time.Second, time.Millisecond)
	close(stop)
	wg.Wait()
	// An idempotent call is retried, but at most WithMaxAttempts (3)
	// attempts: one may meet three crashed servers not yet noticed.
	assert.LessOrEqual(t, whoFailed.Load(), int64(16), "idempotent calls are retried")
	runs.Range(func(k, v any) bool {
		assert.LessOrEqual(t, v.(*atomic.Int64).Load(), int64(1), "call %v ran twice", k)
		return true
	})
	wrongErr.Range(func(k, _ any) bool {
		t.Errorf("%v", k)
		return true
	})
	t.Logf("Svc.Do: %d ok, %d failed (in flight at the crash); Svc.Who: %d failed", doOK.Load(), doFailed.Load(), whoFailed.Load())
	assert.LessOrEqual(t, doFailed.Load(), int64(16*2), "only calls in flight on a crashed server fail")
}

// TestVcluster13ClientLosesEtcd: the client's etcd is out of reach. The
// resolver docs: "An error from Next is transient: the client keeps the
// last good set and asks again". Calls go on to the servers it knows, and
// once etcd is back a server registered meanwhile is used.
func TestVcluster13ClientLosesEtcd(t *testing.T) {
	t.Parallel() // it mostly waits on an etcd of its own or behind its own proxy
	eps := os.Getenv("FERRY_ETCD_ENDPOINTS")
	srvCli := etcdClient(t)
	p := prefix(t)
	proxy := newCutProxy(t, strings.TrimPrefix(strings.Split(eps, ",")[0], "http://"))
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.l.Addr().String()},
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	start := func(name string) string {
		s := server.New()
		require.NoError(t, server.Handle(s, "Svc.Who", func(context.Context, *struct{}) (*string, error) { return &name, nil }))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		reg, err := etcd.Register(t.Context(), srvCli, "svc", l.Addr().String(), p)
		require.NoError(t, err)
		t.Cleanup(func() { reg.Close(context.Background()); s.Close(); <-done })
		return l.Addr().String()
	}
	start("a")
	r, err := etcd.NewResolver(cli, "svc", p)
	require.NoError(t, err)
	c, err := cluster.New(r)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, 1))

	proxy.cut()
	start("b")
	cut := time.Now()
	for time.Since(cut) < 6*time.Second { // longer than the resolver's 5 s read timeout
		var who string
		require.NoError(t, c.Call(t.Context(), "Svc.Who", struct{}{}, &who))
		require.Equal(t, "a", who)
	}
	require.Len(t, c.Endpoints(), 1)
	proxy.mend()
	mended := time.Now()
	ctx2, cancel2 := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel2()
	require.NoError(t, c.WaitReady(ctx2, 2))
	t.Logf("etcd back: the server registered meanwhile was ready in %v", time.Since(mended))
}

// TestVcluster13CloseEndsNextWhileEtcdIsAway: resolver.Watcher's Next
// "After Close, or when ctx ends, it returns an error at once", also when
// it is waiting for an etcd out of reach.
func TestVcluster13CloseEndsNextWhileEtcdIsAway(t *testing.T) {
	eps := os.Getenv("FERRY_ETCD_ENDPOINTS")
	etcdClient(t) // skips without etcd
	proxy := newCutProxy(t, strings.TrimPrefix(strings.Split(eps, ",")[0], "http://"))
	proxy.cut()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://" + proxy.l.Addr().String()},
		DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	defer cli.Close()
	r, err := etcd.NewResolver(cli, "svc", prefix(t))
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
		require.Failf(t, "Next returned with etcd out of reach", "%v", err)
	case <-time.After(500 * time.Millisecond): // Next is waiting for etcd
	}
	closed := time.Now()
	require.NoError(t, w.Close())
	select {
	case err := <-errc:
		t.Logf("Next returned %v after Close", time.Since(closed))
		require.ErrorIs(t, err, resolver.ErrClosed)
	case <-time.After(time.Second):
		require.Fail(t, "Next still waits 1 s after Close")
	}
}

// TestVcluster13WeightAndPriorityFromEtcdAttrs: attributes registered with
// WithAttrs reach the cluster client, which "understands, whatever the
// resolver" resolver.AttrWeight and resolver.AttrPriority: calls go to
// the lowest priority in proportion to weight, and to the backup only
// when no primary is left.
func TestVcluster13WeightAndPriorityFromEtcdAttrs(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	regs := map[string]*etcd.Registration{}
	start := func(name string, attrs map[string]string) {
		s := server.New()
		require.NoError(t, server.Handle(s, "Svc.Who", func(context.Context, *struct{}) (*string, error) { return &name, nil }))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- s.Serve(l) }()
		reg, err := etcd.Register(t.Context(), cli, "svc", l.Addr().String(), p, etcd.WithAttrs(attrs))
		require.NoError(t, err)
		regs[name] = reg
		t.Cleanup(func() { reg.Close(context.Background()); s.Close(); <-done })
	}
	start("heavy", map[string]string{resolver.AttrWeight: "3"})
	start("light", map[string]string{resolver.AttrWeight: "1"})
	start("backup", map[string]string{resolver.AttrPriority: "1"})
	r, err := etcd.NewResolver(cli, "svc", p)
	require.NoError(t, err)
	c, err := cluster.New(r, cluster.WithBalancer(balancer.RoundRobin()))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, 3))
	count := func(n int) map[string]int {
		per := map[string]int{}
		for range n {
			var who string
			require.NoError(t, c.Call(t.Context(), "Svc.Who", struct{}{}, &who))
			per[who]++
		}
		return per
	}
	per := count(400)
	t.Logf("weights 3 and 1, and a backup: %v", per)
	assert.InDelta(t, 300, per["heavy"], 8)
	assert.InDelta(t, 100, per["light"], 8)
	assert.Zero(t, per["backup"])

	require.NoError(t, regs["heavy"].Close(t.Context()))
	require.NoError(t, regs["light"].Close(t.Context()))
	require.Eventually(t, func() bool { return len(c.Endpoints()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, map[string]int{"backup": 50}, count(50))
}

// TestVcluster13EveryServerGone: what a caller sees when every server is
// gone. cluster.WithWaitForReady's doc: without it, calls wait while an
// endpoint is about to reconnect after losing a working connection, and
// fail at once with ferry.CodeUnavailable, not executed, when every
// endpoint is down; a set that etcd empties leaves nothing to wait for.
func TestVcluster13EveryServerGone(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	type srv struct {
		s    *server.Server
		reg  *etcd.Registration
		done chan error
	}
	var srvs []*srv
	for range 2 {
		s := server.New()
		require.NoError(t, server.Handle(s, "Svc.Who", func(context.Context, *struct{}) (*string, error) { return new(string), nil }))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		x := &srv{s: s, done: make(chan error, 1)}
		go func() { x.done <- s.Serve(l) }()
		x.reg, err = etcd.Register(t.Context(), cli, "svc", l.Addr().String(), p)
		require.NoError(t, err)
		srvs = append(srvs, x)
		t.Cleanup(func() { x.reg.Close(context.Background()); s.Close(); <-x.done })
	}
	r, err := etcd.NewResolver(cli, "svc", p)
	require.NoError(t, err)
	c, err := cluster.New(r, cluster.WithIdempotent("Svc.Who"))
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, 2))

	// Crashed: the keys stay (their leases live on), the servers are gone.
	for _, x := range srvs {
		x.s.Close()
	}
	call := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		start := time.Now()
		err := c.Call(ctx, "Svc.Who", struct{}{}, nil)
		return time.Since(start), err
	}
	var err1 error
	require.Eventually(t, func() bool {
		var took time.Duration
		took, err1 = call()
		return err1 != nil && took < 100*time.Millisecond
	}, 10*time.Second, 10*time.Millisecond, "calls fail at once once every endpoint is down")
	t.Logf("every server crashed: %v", err1)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err1))
	assert.True(t, ferry.NotExecuted(err1))

	// Deregistered: the set is empty.
	for _, x := range srvs {
		require.NoError(t, x.reg.Close(t.Context()))
	}
	require.Eventually(t, func() bool { return len(c.Endpoints()) == 0 }, 5*time.Second, time.Millisecond)
	took, err2 := call()
	t.Logf("every server deregistered: %v after %v", err2, took)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err2))
	assert.True(t, ferry.NotExecuted(err2))
	assert.Less(t, took, 100*time.Millisecond)
}

// TestVcluster13HundredRegistrations: a hundred servers register at once
// and leave at once; a watcher's sets end complete, sorted, then empty.
func TestVcluster13HundredRegistrations(t *testing.T) {
	cli := etcdClient(t)
	p := prefix(t)
	w := watch(t, cli, "orders", p)
	require.Empty(t, next(t, w))
	const n = 100
	regs := make([]*etcd.Registration, n)
	want := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		want[i] = fmt.Sprintf("127.0.0.1:%d", 10000+i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			reg, err := etcd.Register(t.Context(), cli, "orders", want[i], p)
			assert.NoError(t, err)
			regs[i] = reg
		}()
	}
	wg.Wait()
	slices.Sort(want)
	took := waitSet(t, w, want, 15*time.Second)
	t.Logf("%d registrations at once reached the watcher %v after the last returned", n, took)
	for _, reg := range regs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			assert.NoError(t, reg.Close(t.Context()))
		}()
	}
	wg.Wait()
	waitSet(t, w, []string{}, 15*time.Second)
}

// TestVcluster13EtcdDownLongerThanTTL: etcd is down for 18 s, six TTLs,
// then back with its data, which renews every lease for one TTL. The docs:
// "if the lease is ever lost (etcd restarted, a long partition), it
// registers again", and README.md: "a lost lease or a deleted key is
// noticed at once". The server's etcd client must be back within that
// TTL, or the lease expires and the server leaves the registry while it
// runs; gRPC's reconnect backoff, after 18 s of failures, alone would
// wait several seconds more.
//
// A resolver's watch, on an etcd client of its own that lived through the
// outage too, must see a server that registers after etcd is back within
// seconds, not after the same backoff.
func TestVcluster13EtcdDownLongerThanTTL(t *testing.T) {
	t.Parallel() // it mostly waits on an etcd of its own or behind its own proxy
	e := startOwnEtcd(t)
	srvCli, cliCli, watchCli := e.client(), e.client(), e.client()
	reg, err := etcd.Register(t.Context(), srvCli, "orders", "127.0.0.1:7001", etcd.WithTTL(3))
	require.NoError(t, err)
	defer reg.Close(context.Background())
	before, err := cliCli.Get(t.Context(), reg.Key())
	require.NoError(t, err)
	require.Len(t, before.Kvs, 1)
	r, err := etcd.NewResolver(watchCli, "orders")
	require.NoError(t, err)
	w, err := r.Watch(t.Context())
	require.NoError(t, err)
	var latest atomic.Value // the last set the watcher returned, as "a,b"
	following := make(chan struct{})
	go func() {
		defer close(following)
		for range 100_000 {
			eps, err := w.Next(t.Context())
			if errors.Is(err, resolver.ErrClosed) || t.Context().Err() != nil {
				return
			}
			if err == nil {
				latest.Store(strings.Join(addrsOf(eps), ","))
			}
		}
	}()
	defer func() { w.Close(); <-following }()
	require.Eventually(t, func() bool { return latest.Load() == "127.0.0.1:7001" }, 10*time.Second, 10*time.Millisecond)
	e.stop()
	down := time.NewTimer(18 * time.Second) // the scenario itself
	<-down.C
	e.start()
	back := time.Now()
	require.Eventually(t, func() bool { return reg.Reregistrations() >= 1 }, 20*time.Second, 10*time.Millisecond)
	t.Logf("registered again %v after etcd was back", time.Since(back))
	// A server registering now, through a client that never saw the
	// outage: the watcher must catch up within seconds. gRPC's backoff
	// after 18 s of failures would have it wait for the next attempt,
	// scheduled about 26 s (21-31 s) after the outage began.
	late, err := etcd.Register(t.Context(), e.client(), "orders", "127.0.0.1:7002", etcd.WithTTL(30))
	require.NoError(t, err)
	defer late.Close(context.Background())
	registered := time.Now()
	assert.Eventually(t, func() bool { return strings.Contains(fmt.Sprint(latest.Load()), "127.0.0.1:7002") }, 4*time.Second,
		10*time.Millisecond, "the watcher saw the new server; last set %v", latest.Load())
	t.Logf("the watcher saw a server registered after the outage %v later (%v after etcd was back)",
		time.Since(registered), time.Since(back))
	// Past the expiry of the old lease (renewed for a TTL at etcd's
	// restart), the key is the one created before the outage: it was
	// never deleted (a key put again after a delete has a new
	// CreateRevision).
	expired := time.NewTimer(time.Until(back.Add(5 * time.Second)))
	<-expired.C
	after, err := cliCli.Get(t.Context(), reg.Key())
	require.NoError(t, err)
	require.Len(t, after.Kvs, 1)
	assert.Equal(t, before.Kvs[0].CreateRevision, after.Kvs[0].CreateRevision, "the key of a live server was deleted meanwhile")
	assert.Equal(t, int64(reg.Lease()), after.Kvs[0].Lease, "on the new lease")
}
