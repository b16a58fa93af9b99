package e2e_test

import (
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// idleGoroutinesPerPair is what an idle session costs, client and server
// ends together: on each side yamux's receive and send loops. Keepalives
// run from timers, no goroutine waits for a call stream's end nor for the
// session's, the call streams' readers park while nothing arrives, and
// both sides accept the streams the other opens only while they arrive.
const idleGoroutinesPerPair = 4

// TestIdleConnectionGoroutines counts the goroutines of idle connections:
// each made a call, then sat idle until the handler goroutines and the
// write batchers that serve bursts had exited; and again after the
// server opened a stream to one of the clients.
func TestIdleConnectionGoroutines(t *testing.T) {
	const n = 8
	peers := make(chan *server.Peer, n)
	s := newServer(t, server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() {
		require.NoError(t, s.Close())
		<-served
	}()
	_ = goleak.Find() // waits a moment for goroutines of earlier tests to exit
	before := runtime.NumGoroutine()

	for range n {
		c, err := client.Dial(t.Context(), l.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		var sum int64
		require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 2}, &sum))
		require.Equal(t, int64(3), sum)
	}
	requireIdle := func(when string) {
		t.Helper()
		perPair := func() float64 { return float64(runtime.NumGoroutine()-before) / n }
		// Idle handler goroutines, batchers and readers exit within
		// half a second.
		// (Polled here: assert.Eventually counts its own goroutine.)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(10 * time.Second); perPair() > idleGoroutinesPerPair && time.Now().Before(end); {
			<-tick.C
		}
		got := perPair()
		t.Logf("goroutines per idle connection, both ends, %s: %.2f", when, got)
		if !assert.LessOrEqual(t, got, float64(idleGoroutinesPerPair), when) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines:\n%s", buf[:runtime.Stack(buf, true)])
		}
	}
	requireIdle("after a call")

	// The client accepts a stream the server opens (and refuses it: it
	// serves none), then goes idle again.
	st, err := (<-peers).NewStream(t.Context(), "Feed.Live")
	require.NoError(t, err)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(st.Recv(nil)))
	require.NoError(t, st.Close())
	requireIdle("after a server-opened stream")
}

// TestServerDropsVanishedClient: a client whose network vanished (a
// partition the kernel does not see, so TCP keepalive cannot help) is
// dropped by the server's keepalive within DeadPeerTimeout, with no call
// in flight and no keepalive of the client's own.
func TestServerDropsVanishedClient(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = 300 * time.Millisecond
	cfg.WriteTimeout = 300 * time.Millisecond
	limit := cfg.DeadPeerTimeout() + 500*time.Millisecond
	gone := make(chan struct{}, 1)
	s := newServer(t, server.WithConfig(cfg), server.WithConnHooks(nil, func(*server.Peer) { gone <- struct{}{} }))
	addr := serveLoopback(t, s, nil)

	ccfg := transport.DefaultConfig()
	ccfg.KeepAliveInterval = 0 // only the server may notice
	f := faultnet.New()
	nc, err := f.Dialer(nil)(t.Context(), "tcp", addr)
	require.NoError(t, err)
	c, err := client.New(nc, client.WithConfig(ccfg))
	require.NoError(t, err)
	defer c.Close()
	var sum int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 2}, &sum))

	t0 := time.Now()
	f.Blackhole()
	select {
	case <-gone:
		t.Logf("the server dropped the vanished client after %v (DeadPeerTimeout %v)", time.Since(t0), cfg.DeadPeerTimeout())
	case <-time.After(limit + faultSlack):
		t.Fatalf("the server still holds a client that vanished %v ago (DeadPeerTimeout %v)", time.Since(t0), cfg.DeadPeerTimeout())
	}
}
