package cluster_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// node is one in-process server at a fixed address that a test can kill
// (abruptly), shut down (gracefully) and restart at the same address.
type node struct {
	t      *testing.T
	name   string
	addr   string
	opts   []server.Option
	served atomic.Int64 // calls handled by Svc methods, all lives together
	delay  atomic.Int64 // nanoseconds Svc.Who sleeps
	failOn atomic.Bool  // Svc.Who fails with CodeResourceExhausted
	ledger *ledger      // where Svc.Work records its side effects
	accept func()       // called at each accepted connection, if set

	mu       sync.Mutex
	srv      *server.Server
	hs       *health.Server
	done     chan error
	conns    map[string]net.Conn // accepted, by remote address
	lives    int
	liveFrom time.Time
}

// startNode starts a node on a free loopback port.
func startNode(t *testing.T, name string, opts ...server.Option) *node {
	t.Helper()
	return startNodeWith(t, name, func(*node) []server.Option { return opts })
}

// startNodeWith starts a node whose options may refer to the node itself
// (fault-injecting interceptors).
func startNodeWith(t *testing.T, name string, opts func(*node) []server.Option, setup ...func(*node)) *node {
	t.Helper()
	n := &node{t: t, name: name}
	for _, f := range setup {
		f(n)
	}
	n.opts = opts(n)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n.addr = l.Addr().String()
	n.serve(l)
	t.Cleanup(n.kill)
	return n
}

// restart starts the node again at its address.
func (n *node) restart() {
	l, err := net.Listen("tcp", n.addr)
	require.NoError(n.t, err)
	n.serve(l)
}

func (n *node) serve(l net.Listener) {
	srv := server.New(n.opts...)
	hs := health.NewServer()
	require.NoError(n.t, hs.Register(srv))
	require.NoError(n.t, srv.RegisterName("Svc", &svc{n: n}))
	n.mu.Lock()
	n.srv, n.hs, n.done, n.conns = srv, hs, make(chan error, 1), map[string]net.Conn{}
	n.lives++
	n.liveFrom = time.Now()
	done := n.done
	n.mu.Unlock()
	go func() { done <- srv.Serve(&trackingListener{Listener: l, n: n}) }()
}

// kill closes the server at once: connections drop mid-call, as when the
// process dies.
func (n *node) kill() {
	n.mu.Lock()
	srv, done := n.srv, n.done
	n.srv = nil
	n.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-done
	}
}

// shutdown stops the server gracefully: go-away, then running calls finish.
func (n *node) shutdown(ctx context.Context) error {
	n.mu.Lock()
	srv, done := n.srv, n.done
	n.srv = nil
	n.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	<-done
	return err
}

func (n *node) health() *health.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.hs
}

// dropConn closes the connection from remote abruptly (fault injection).
func (n *node) dropConn(remote net.Addr) {
	n.mu.Lock()
	c := n.conns[remote.String()]
	n.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

type trackingListener struct {
	net.Listener
	n *node
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		if l.n.accept != nil {
			l.n.accept()
		}
		l.n.mu.Lock()
		l.n.conns[c.RemoteAddr().String()] = c
		l.n.mu.Unlock()
	}
	return c, err
}

// svc is the test service.
type svc struct{ n *node }

// Who returns the node's name.
func (s *svc) Who(ctx context.Context, _ struct{}, reply *string) error {
	s.n.served.Add(1)
	if d := time.Duration(s.n.delay.Load()); d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if s.n.failOn.Load() {
		return ferry.NewError(ferry.CodeResourceExhausted, "injected overload")
	}
	*reply = s.n.name
	return nil
}

// Work performs a side effect once per call, recorded in the ledger under
// the call id carried in the metadata key "call-id". When the context
// says so (a fault injected mid-handler), it drops the connection after
// the side effect and before replying.
func (s *svc) Work(ctx context.Context, _ struct{}, reply *bool) error {
	s.n.served.Add(1)
	s.n.ledger.record(ferry.IncomingMetadata(ctx)["call-id"])
	if ctx.Value(midHandlerFault{}) != nil {
		s.n.dropConn(server.PeerFromContext(ctx).RemoteAddr())
		<-ctx.Done()
		return ctx.Err()
	}
	*reply = true
	return nil
}

type midHandlerFault struct{}

// ledger counts executions per call id, across servers, as a shared
// database would.
type ledger struct {
	mu   sync.Mutex
	runs map[string]int
}

func newLedger() *ledger { return &ledger{runs: map[string]int{}} }

func (l *ledger) record(id string) {
	l.mu.Lock()
	l.runs[id]++
	l.mu.Unlock()
}

func (l *ledger) count(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.runs[id]
}

func addrs(nodes ...*node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.addr
	}
	return out
}

// fastBackoff is the reconnect schedule of most tests: the default one
// scaled down.
var fastBackoff = cluster.Backoff{Base: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, Max: 200 * time.Millisecond}

func newClient(t *testing.T, r resolver.Resolver, opts ...cluster.Option) *cluster.Client {
	t.Helper()
	opts = append([]cluster.Option{cluster.WithBackoff(fastBackoff)}, opts...)
	c, err := cluster.New(r, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func endpointInfo(c *cluster.Client, addr string) cluster.EndpointInfo {
	for _, e := range c.Endpoints() {
		if e.Addr == addr {
			return e
		}
	}
	return cluster.EndpointInfo{}
}

func waitReady(t *testing.T, c *cluster.Client, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	require.NoError(t, c.WaitReady(ctx, n))
}
