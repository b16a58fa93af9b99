package cluster_test

// Tests of cluster's doc promises that depend on how the core engine
// flags a failed call: "not executed" (never sent) or "may have executed".

import (
	"context"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeServer serves Store.Put, which records the call id of its
// metadata in l, on a loopback listener wrapped by f (nil: none), and
// returns its address and the server.
func storeServer(t *testing.T, l *ledger, f *faultnet.Faults) (string, *server.Server) {
	t.Helper()
	s := server.New()
	require.NoError(t, server.Handle(s, "Store.Put", func(ctx context.Context, _ *[]byte) (*bool, error) {
		l.record(ferry.IncomingMetadata(ctx)["call-id"])
		ok := true
		return &ok, nil
	}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	var wrapped net.Listener = ln
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
	other, _ := storeServer(t, l, nil)
	cfg := transport.DefaultConfig()
	cfg.WriteTimeout = 300 * time.Millisecond
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
