package cluster_test

// Tests of cluster's doc promises that depend on how the core engine
// flags a failed call: "not executed" (never sent) or "may have executed".

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeServer serves Store.Put, which records the call id of its
// metadata in l, on a loopback listener wrapped by f (nil: none), with
// opts, and returns its address and the server.
func storeServer(t *testing.T, l *ledger, f *faultnet.Faults, opts ...server.Option) (string, *server.Server) {
	t.Helper()
	s := server.New(opts...)
	require.NoError(t, server.Handle(s, "Store.Put", func(ctx context.Context, _ *[]byte) (*bool, error) {
		l.record(ferry.IncomingMetadata(ctx)["call-id"])
		ok := true
		return &ok, nil
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	wrapped := ln
	if f != nil {
		wrapped = f.Listener(ln)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(wrapped)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return addr, s
}

// TestAuditV11StalledEndpointFailsOver checks Call's "A call that provably
// did not run there (refused, sent to a server going away, never sent) is
// retried on another endpoint ... a call that may have run is retried
// only when it is idempotent", and package client's "[a call] waits until
// ctx ends ... or for at most the WriteTimeout", for calls of a method
// that is not idempotent to an endpoint whose server stops reading (a
// frozen process): the calls still queued on its connection when the
// write timeout breaks it were never sent, and complete on the other
// endpoint; only calls whose request had been written may fail, flagged
// "may have executed"; and no call runs twice, even once the frozen server
// reads again.
func TestAuditV11StalledEndpointFailsOver(t *testing.T) {
	l := newLedger()
	f := faultnet.New()
	frozen, frozenSrv := storeServer(t, l, f)
	var otherConns atomic.Int64
	other, _ := storeServer(t, l, nil, server.WithConnHooks(func(*server.Peer) { otherConns.Add(1) }, nil))
	cfg := transport.DefaultConfig()
	// The write timeout applies to both endpoints' connections, and this
	// test's premise is that only the frozen one breaks: the other, served
	// by this -race process on a loaded machine, must never look stalled.
	// At 300 ms (a write is cut after 7/8 of it), beside a busy loop, the
	// other connection broke too in 4 of 20 runs: 25 to 55 calls failed,
	// and calls never sent reached the caller; at 1 s, in none of 20.
	cfg.WriteTimeout = time.Second
	var unsent atomic.Int64 // attempts that failed flagged not executed
	count := func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		err := next(ctx, info, args, reply)
		if ferry.NotExecuted(err) {
			unsent.Add(1)
		}
		return err
	}
	cl := newClient(t, resolver.Static(frozen, other),
		cluster.WithBalancer(preferred{frozen, other}),
		cluster.WithHealthCheck("", 0, 0),
		cluster.WithCircuitBreaker(0, 0),
		cluster.WithClientOptions(client.WithConfig(cfg), client.WithInterceptors(count)))
	waitReady(t, cl, 2)
	f.Stall(faultnet.In) // the frozen server reads nothing more

	payload := make([]byte, 64<<10) // 16 of them fill the call stream's 1 MiB window
	var (
		next    atomic.Int64
		mu      sync.Mutex
		ok      []string
		failed  []error
		lost    []string // the ids of the failed calls
		wg      sync.WaitGroup
		stopped = make(chan struct{})
	)
	// 96 callers: 16 calls fill the window, one write waits for it, 1 MiB
	// more queues behind that write, and the rest wait for room.
	for range 96 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				select {
				case <-stopped:
					return
				default:
				}
				id := strconv.FormatInt(next.Add(1), 10)
				ctx, cancel := context.WithTimeout(ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"call-id": id}), 10*time.Second)
				var reply bool
				err := cl.Call(ctx, "Store.Put", payload, &reply)
				cancel()
				mu.Lock()
				if err != nil {
					failed, lost = append(failed, err), append(lost, id)
				} else {
					ok = append(ok, id)
				}
				mu.Unlock()
			}
		}()
	}
	// The frozen endpoint's connection breaks within the write timeout;
	// calls then go to the other one.
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(ok) >= 100
	}, 10*time.Second, time.Millisecond)
	close(stopped)
	wg.Wait()
	assert.EqualValues(t, 1, otherConns.Load(), "the other endpoint's connection broke too (the machine stalled the test past the write timeout)")

	// What reached the frozen server before the break may run now; its
	// connections then end.
	require.NoError(t, cl.Close())
	f.Resume()
	require.Eventually(t, func() bool { return len(frozenSrv.Conns()) == 0 }, 10*time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for _, err := range failed {
		assert.False(t, ferry.NotExecuted(err), "a call never sent reached the caller instead of the other endpoint: %v", err)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	}
	// The callers that waited for room in the write queue were never
	// sent, and moved.
	assert.Positive(t, unsent.Load(), "attempts failed as not executed")
	assert.Less(t, len(failed), 96)
	for _, id := range ok {
		assert.Equal(t, 1, l.count(id), "call %s ran %d times", id, l.count(id))
	}
	for _, id := range lost {
		assert.LessOrEqual(t, l.count(id), 1, "failed call %s ran %d times", id, l.count(id))
	}
	t.Logf("%d calls succeeded, %d failed as may have executed; %d attempts not executed", len(ok), len(failed), unsent.Load())
}

// TestAuditV11NoneReadyFailsAtOnce checks WithWaitForReady's "Default
// off: ... fail at once with ferry.CodeUnavailable, not executed, when
// none is: every endpoint is ... failing its health checks, or has its
// circuit breaker open", and that with WithWaitForReady such a call waits
// instead, until an endpoint passes its checks again.
func TestAuditV11NoneReadyFailsAtOnce(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	checks := cluster.WithHealthCheck("", 20*time.Millisecond, time.Second)
	cl := newClient(t, resolver.Static(addrs(a, b)...), checks)
	waiting := newClient(t, resolver.Static(addrs(a, b)...), checks, cluster.WithWaitForReady())
	waitReady(t, cl, 2)
	waitReady(t, waiting, 2)

	// Every endpoint failing its health checks.
	a.health().SetStatus("", health.NotServing)
	b.health().SetStatus("", health.NotServing)
	require.Eventually(t, func() bool {
		return endpointInfo(cl, a.addr).State == "unhealthy" && endpointInfo(cl, b.addr).State == "unhealthy" &&
			endpointInfo(waiting, a.addr).State == "unhealthy" && endpointInfo(waiting, b.addr).State == "unhealthy"
	}, 5*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := cl.Call(ctx, "Svc.Who", struct{}{}, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.NoError(t, ctx.Err(), "failed at once")

	var who string
	call := waiting.Go(ctx, "Svc.Who", struct{}{}, &who)
	select {
	case <-call.Done():
		t.Fatalf("WithWaitForReady: the call ended with no endpoint ready: %v", call.Err())
	case <-time.After(100 * time.Millisecond): // it waits (five checks' time)
	}
	b.health().SetStatus("", health.Serving)
	require.NoError(t, call.Wait())
	assert.Equal(t, "b", who)
	a.health().SetStatus("", health.Serving)
	waitReady(t, cl, 2)

	// Every endpoint's breaker open.
	br := newClient(t, resolver.Static(addrs(a, b)...), cluster.WithCircuitBreaker(2, time.Minute))
	waitReady(t, br, 2)
	a.failOn.Store(true)
	b.failOn.Store(true)
	for range 10 {
		if endpointInfo(br, a.addr).State == "open" && endpointInfo(br, b.addr).State == "open" {
			break
		}
		assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(br.Call(ctx, "Svc.Who", struct{}{}, nil)))
	}
	require.Equal(t, "open", endpointInfo(br, a.addr).State)
	require.Equal(t, "open", endpointInfo(br, b.addr).State)
	served := a.served.Load() + b.served.Load()
	err = br.Call(ctx, "Svc.Who", struct{}{}, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.NoError(t, ctx.Err(), "failed at once")
	assert.Equal(t, served, a.served.Load()+b.served.Load(), "no endpoint saw it")
}

// TestAuditV11HedgesSpendTheBudget checks WithHedging's "Hedges spend the
// retry budget" with WithRetryBudget's bucket "at least 100" tokens: with
// a budget that never refills (0, 0) and every first attempt on a slow
// endpoint, exactly 100 calls are hedged to the fast one; the next waits
// for the slow one.
func TestAuditV11HedgesSpendTheBudget(t *testing.T) {
	slow, fast := startNode(t, "slow"), startNode(t, "fast")
	slow.delay.Store(int64(time.Minute))
	cl := newClient(t, resolver.Static(addrs(slow, fast)...),
		cluster.WithBalancer(preferred{slow.addr, fast.addr}),
		cluster.WithHedging(time.Millisecond), cluster.WithMaxAttempts(2),
		cluster.WithRetryBudget(0, 0), cluster.WithCircuitBreaker(0, 0),
		cluster.WithIdempotent("Svc.Who"))
	waitReady(t, cl, 2)
	for i := range 100 {
		var who string
		require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who), "call %d", i)
		require.Equal(t, "fast", who, "call %d", i)
	}
	served := fast.served.Load()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := cl.Call(ctx, "Svc.Who", struct{}{}, nil)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "the budget is spent: no hedge: %v", err)
	assert.Equal(t, served, fast.served.Load())
}

// TestAuditV11HedgeWithOneEndpoint checks WithHedging's "sends a second
// attempt of an idempotent call to another endpoint (the same one when no
// other is ready)": with a single endpoint, a call that answers after
// 300 ms is sent there three times (at 0, 20 and 40 ms), and the first
// answer wins. (The doc said "to another endpoint" alone.)
func TestAuditV11HedgeWithOneEndpoint(t *testing.T) {
	slow := startNode(t, "slow")
	slow.delay.Store(int64(300 * time.Millisecond))
	cl := newClient(t, resolver.Static(slow.addr),
		cluster.WithHedging(20*time.Millisecond), cluster.WithIdempotent("Svc.Who"))
	waitReady(t, cl, 1)
	var who string
	require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "slow", who)
	assert.Equal(t, int64(3), slow.served.Load(), "the hedges went to the only endpoint")
	require.Eventually(t, func() bool { return endpointInfo(cl, slow.addr).Outstanding == 0 }, 5*time.Second, time.Millisecond,
		"the losers were canceled")
}

// TestAuditV11StreamsThroughAGracefulShutdown checks the package doc's
// "A server that announces shutdown (go-away ...) gets no new call from
// that moment: the calls in flight finish on its connection, the calls it
// refuses as not executed go elsewhere" and "A stream refused before its
// handler started (ferry.NotExecuted) moves to another endpoint with the
// messages already sent" together, for streaming calls: while one of two
// servers shuts down gracefully, streams opened through the Client all
// end successfully, each answered by one server, and none is opened on
// the stopped server afterwards.
func TestAuditV11StreamsThroughAGracefulShutdown(t *testing.T) {
	a, b := startStreamNode(t, "a", false), startStreamNode(t, "b", false)
	cl := streamCluster(t, []*streamNode{a, b}, cluster.WithBackoff(fastBackoff), cluster.WithBalancer(balancer.RoundRobin()))
	var (
		mu     sync.Mutex
		failed []error
		ok     int
		wg     sync.WaitGroup
	)
	stop := make(chan struct{})
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10_000 {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				_, err := chatOnce(ctx, cl, "x", "y", "z")
				cancel()
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
	require.Eventually(t, func() bool { return a.handled.Load() >= 150 }, 10*time.Second, time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, a.srv.Shutdown(ctx), "the streams in flight finished")
	<-a.done
	atStop, handledA := b.handled.Load(), a.handled.Load()
	require.Eventually(t, func() bool { return b.handled.Load() >= atStop+300 }, 10*time.Second, time.Millisecond)
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	for _, err := range failed[:min(len(failed), 5)] {
		t.Errorf("a stream failed: %v (not executed %v)", err, ferry.NotExecuted(err))
	}
	assert.Empty(t, failed)
	assert.Equal(t, handledA, a.handled.Load(), "no stream ran on the stopped server")
	t.Logf("%d streams, %d failed; %v", ok, len(failed), cl.StreamStats())
}

// TestAuditV11DrainTimeoutAfterGoAway checks WithDrainTimeout's "bounds
// how long the connection to an endpoint ... whose server announced that
// it is going away, stays open for the calls still running on it": a call
// that would run a minute on a server shutting down (with a minute to
// spare) fails soon after the go-away, flagged "may have executed" (its
// handler ran), and is not retried: it is not idempotent. New calls go to
// the other endpoint meanwhile.
func TestAuditV11DrainTimeoutAfterGoAway(t *testing.T) {
	who, a, cl, err := drainCut(t, t.Context())
	require.Error(t, err)
	assert.Empty(t, who)
	assert.False(t, ferry.NotExecuted(err), "its handler ran: %v", err)
	// The endpoint did not answer in time: unavailable, not the
	// cancellation of a Close the caller never made.
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.NotErrorIs(t, err, ferry.ErrClosed)
	assert.Equal(t, int64(1), a.served.Load(), "not retried")
	require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "b", who)
}

// drainCut makes a call with ctx that would run a minute on endpoint a,
// shuts a down (with a minute to spare) once the call runs there, with a
// drain timeout of 100 ms, and returns the call's reply and error; it
// checks that a's Shutdown did not wait out its minute (the connection
// closed, the handler's context ended).
func drainCut(t *testing.T, ctx context.Context) (who string, a *node, cl *cluster.Client, err error) {
	t.Helper()
	a, b := startNode(t, "a"), startNode(t, "b")
	a.delay.Store(int64(time.Minute))
	cl = newClient(t, resolver.Static(addrs(a, b)...),
		cluster.WithBalancer(preferred{a.addr, b.addr}),
		cluster.WithDrainTimeout(100*time.Millisecond))
	waitReady(t, cl, 2)
	call := cl.Go(ctx, "Svc.Who", struct{}{}, &who)
	require.Eventually(t, func() bool { return a.served.Load() == 1 }, 5*time.Second, time.Millisecond)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		shut <- a.shutdown(ctx)
	}()
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the call outlived the drain timeout")
	}
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("the server still waits for the call")
	}
	return who, a, cl, call.Err()
}

// movingSRV answers SRV lookups with one record, at a port it can move,
// whose target resolves to 127.0.0.1; it counts the SRV lookups.
type movingSRV struct {
	mu      sync.Mutex
	port    uint16
	lookups int
}

func (m *movingSRV) moveTo(addr string) {
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	m.mu.Lock()
	m.port = uint16(p)
	m.mu.Unlock()
}

func (m *movingSRV) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lookups
}

func (m *movingSRV) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	return "", []*net.SRV{{Target: "svc.test.", Port: m.port, Weight: 1}}, nil
}

func (m *movingSRV) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
}

// TestAuditV11ConnectionFailureFollowsDNS checks the package doc's "A
// connection failure also asks the resolver to look again, so a DNS name
// that moved is followed at once rather than at the next poll", with
// resolver.WithInterval's "A connection failure also triggers a lookup (at
// most one per second ...)": with a poll every hour, a name that moved to
// another server is followed within seconds of the old server's death.
func TestAuditV11ConnectionFailureFollowsDNS(t *testing.T) {
	a, b := startNode(t, "a"), startNode(t, "b")
	dns := &movingSRV{}
	dns.moveTo(a.addr)
	r, err := resolver.SRV("ferry", "tcp", "svc.test", resolver.WithLookup(dns), resolver.WithInterval(time.Hour))
	require.NoError(t, err)
	cl := newClient(t, r)
	waitReady(t, cl, 1)
	var who string
	require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "a", who)
	assert.Equal(t, 1, dns.count(), "one lookup until something fails")

	dns.moveTo(b.addr) // the name moved; nothing polls for an hour
	start := time.Now()
	a.kill()
	require.Eventually(t, func() bool {
		eps := cl.Endpoints()
		return len(eps) == 1 && eps[0].Addr == b.addr && eps[0].State == "ready"
	}, 10*time.Second, time.Millisecond)
	assert.Less(t, time.Since(start), 3*time.Second, "followed at once, not at the next poll")
	require.NoError(t, cl.Call(t.Context(), "Svc.Who", struct{}{}, &who))
	assert.Equal(t, "b", who)
}

// TestAuditV11CloseEndsStreams checks Close's "calls and streams in flight
// fail with an error wrapping ferry.ErrClosed" for a stream (its Recv and
// Send; they failed with "connection lost" before this audit, though the
// doc's calls did not), and StreamStats' Failed, "streams that ended with
// an error other than the caller's cancel": closing the Client is the
// caller's doing, so the stream is not counted.
func TestAuditV11CloseEndsStreams(t *testing.T) {
	a := startStreamNode(t, "a", false)
	cl, err := cluster.New(resolver.Static(a.addr))
	require.NoError(t, err)
	defer cl.Close()
	require.NoError(t, cl.WaitReady(t.Context(), 1))
	st, err := client.OpenBidi[tagged, tagged](t.Context(), cl, "Svc.Chat")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&tagged{Text: "x"}))
	_, err = st.Recv()
	require.NoError(t, err)

	waiting := make(chan error, 1)
	go func() {
		_, err := st.Recv()
		waiting <- err
	}()
	require.NoError(t, cl.Close())
	err = <-waiting
	assert.ErrorIs(t, err, ferry.ErrClosed, "Recv: %v", err)
	err = st.Send(&tagged{Text: "y"})
	assert.ErrorIs(t, err, ferry.ErrClosed, "Send: %v", err)
	assert.Contains(t, err.Error(), a.addr, "the endpoint's address, as for any failure after the start")
	_, err = cl.NewStream(t.Context(), "Svc.Chat")
	assert.ErrorIs(t, err, ferry.ErrClosed, "NewStream: %v", err)
	assert.Equal(t, int64(0), cl.StreamStats().Failed)
}

// TestAuditV11CallsWaitThroughARestart checks WithWaitForReady's "Default
// off: calls wait while some endpoint is ... draining (its server
// announced a go-away; it is dialled again at once) or about to reconnect
// after losing a working connection", and the package doc's "a server
// restarted at the same address ... is back in rotation as soon as it
// accepts": with one endpoint, default options, a call made as its server
// shuts down gracefully waits, and completes on the server restarted at
// the same address.
func TestAuditV11CallsWaitThroughARestart(t *testing.T) {
	a := startNode(t, "a")
	cl, err := cluster.New(resolver.Static(a.addr)) // the default backoff: 1 s before the second dial
	require.NoError(t, err)
	defer cl.Close()
	waitReady(t, cl, 1)

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, a.shutdown(ctx))
	var who string
	call := cl.Go(ctx, "Svc.Who", struct{}{}, &who)
	a.restart()
	require.NoError(t, call.Wait())
	assert.Equal(t, "a", who)
}

// TestAuditV11AttemptsBound checks WithMaxAttempts' "bounds the attempts
// of one call, the first included, across retries ... 1 turns retries
// off. Default 3": against five endpoints that all refuse the call as not
// executed, it makes three attempts, or one, and fails not executed.
func TestAuditV11AttemptsBound(t *testing.T) {
	var attempts atomic.Int64
	refuse := func(*node) []server.Option {
		return []server.Option{server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			if info.Method != "Svc.Who" {
				return next(ctx, args)
			}
			attempts.Add(1)
			return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "refused"))
		})}
	}
	var nodes []*node
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		nodes = append(nodes, startNodeWith(t, name, refuse))
	}
	for _, tc := range []struct {
		opts []cluster.Option
		want int64
	}{{nil, 3}, {[]cluster.Option{cluster.WithMaxAttempts(1)}, 1}} {
		cl := newClient(t, resolver.Static(addrs(nodes...)...), tc.opts...)
		waitReady(t, cl, 5)
		attempts.Store(0)
		err := cl.Call(t.Context(), "Svc.Who", struct{}{}, nil)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		assert.Equal(t, tc.want, attempts.Load())
	}
}

// TestAuditV11DrainTimeoutRetriesIdempotentCalls: an idempotent call cut
// by the drain timeout (its endpoint announced it was going away and did
// not answer in time) may have run, and is retried on another endpoint,
// like any idempotent call that failed unavailable.
func TestAuditV11DrainTimeoutRetriesIdempotentCalls(t *testing.T) {
	who, _, _, err := drainCut(t, cluster.Idempotent(t.Context()))
	require.NoError(t, err, "retried on the other endpoint")
	assert.Equal(t, "b", who)
}
