package debug_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Args struct{ A, B int64 }

type Arith struct{}

func (Arith) Add(ctx context.Context, a Args, r *int64) error { *r = a.A + a.B; return nil }

func (Arith) Div(ctx context.Context, a Args, r *int64) error {
	if a.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}
	*r = a.A / a.B
	return nil
}

// gate is a handler that blocks until released, to hold a call in flight.
type gate struct {
	entered, release chan struct{}
}

func (g *gate) Wait(ctx context.Context, _ struct{}, _ *struct{}) error {
	g.entered <- struct{}{}
	<-g.release
	return nil
}

type fixture struct {
	st   *debug.Stats
	srv  *server.Server
	c    *client.Client
	addr string
	gate *gate
}

// start serves Arith and Gate.Wait over TCP on 127.0.0.1:0 with stats
// and extra server options; everything stops at cleanup.
func start(t *testing.T, opts ...server.Option) *fixture {
	t.Helper()
	f := &fixture{st: debug.New(), gate: &gate{entered: make(chan struct{}), release: make(chan struct{})}}
	f.srv = server.New(append([]server.Option{f.st.Option()}, opts...)...)
	require.NoError(t, f.srv.Register(Arith{}))
	require.NoError(t, f.srv.RegisterName("Gate", f.gate))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(l) }()
	f.addr = l.Addr().String()
	f.c, err = client.Dial(t.Context(), f.addr)
	require.NoError(t, err)
	t.Cleanup(func() {
		f.c.Close()
		f.srv.Close()
		<-served
	})
	return f
}

// traffic makes n successful Arith.Add calls and one failing Arith.Div.
func (f *fixture) traffic(t *testing.T, n int) {
	t.Helper()
	var r int64
	for i := 0; i < n; i++ {
		require.NoError(t, f.c.Call(t.Context(), "Arith.Add", Args{A: 1, B: int64(i)}, &r))
	}
	require.Error(t, f.c.Call(t.Context(), "Arith.Div", Args{A: 1}, &r))
}

func find(t *testing.T, snap debug.Snapshot, name string) debug.MethodStats {
	t.Helper()
	for _, m := range snap.Methods {
		if m.Name == name {
			return m
		}
	}
	t.Fatalf("method %s not in the snapshot", name)
	return debug.MethodStats{}
}

func TestStatsCountsCallsErrorsAndInFlight(t *testing.T) {
	f := start(t)
	f.traffic(t, 5)

	call := f.c.Go(t.Context(), "Gate.Wait", struct{}{}, nil)
	<-f.gate.entered
	snap := f.st.Snapshot(f.srv)
	close(f.gate.release)
	require.NoError(t, call.Wait())

	add := find(t, snap, "Arith.Add")
	assert.Equal(t, uint64(5), add.Calls)
	assert.Zero(t, add.Errors)
	assert.Equal(t, "unary", add.Kind)
	assert.Positive(t, add.P50)
	assert.LessOrEqual(t, add.P50, add.P99)
	assert.LessOrEqual(t, add.P99, add.Max)

	div := find(t, snap, "Arith.Div")
	assert.Equal(t, uint64(1), div.Errors)
	assert.Equal(t, map[string]uint64{"invalid_argument": 1}, div.Codes)

	assert.Equal(t, int64(1), find(t, snap, "Gate.Wait").InFlight)
	assert.Equal(t, int64(0), find(t, f.st.Snapshot(f.srv), "Gate.Wait").InFlight)

	require.Len(t, snap.Rate, 60)
	var calls, errs uint64
	for _, p := range snap.Rate {
		calls += p.Calls
		errs += p.Errors
	}
	assert.Equal(t, uint64(6), calls, "calls finished within the last minute")
	assert.Equal(t, uint64(1), errs)

	require.Len(t, snap.Conns, 1)
	assert.Equal(t, "session", snap.Conns[0].Protocol)
	assert.Contains(t, snap.Conns[0].Remote, "127.0.0.1:")
}

func TestHandlerJSON(t *testing.T) {
	f := start(t)
	f.traffic(t, 3)
	rec := httptest.NewRecorder()
	f.st.Handler(f.srv).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry?format=json", nil))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var snap debug.Snapshot
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &snap))
	assert.Equal(t, uint64(3), find(t, snap, "Arith.Add").Calls)
}

func TestHandlerHTMLEscapesAndRenders(t *testing.T) {
	st := debug.New()
	s := server.New(st.Option())
	require.NoError(t, server.Handle(s, "Odd.<b>name</b>", func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, nil }))
	rec := httptest.NewRecorder()
	st.Handler(s).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry?refresh=5", nil))
	body := rec.Body.String()
	assert.Equal(t, "text/html; charset=utf-8", rec.Header().Get("Content-Type"))
	assert.Contains(t, body, "Odd.&lt;b&gt;name&lt;/b&gt;")
	assert.NotContains(t, body, "<b>name")
	assert.Contains(t, body, `<meta http-equiv="refresh" content="5">`)
	assert.Equal(t, 2, strings.Count(body, "<svg"))
	assert.NotContains(t, body, "<script")
	assert.NotContains(t, body, "src=")

	// Without a server: only the methods that had calls, no connections.
	rec = httptest.NewRecorder()
	debug.New().Handler(nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Contains(t, rec.Body.String(), "no methods")
}

func TestServerAndClientLogger(t *testing.T) {
	var sbuf, cbuf bytes.Buffer
	debugLevel := &slog.HandlerOptions{Level: slog.LevelDebug}
	f := start(t, server.WithInterceptors(debug.ServerLogger(slog.New(slog.NewTextHandler(&sbuf, debugLevel)))))
	c, err := client.Dial(t.Context(), f.addr,
		client.WithInterceptors(debug.ClientLogger(slog.New(slog.NewTextHandler(&cbuf, debugLevel)))))
	require.NoError(t, err)
	defer c.Close()
	f.c = c
	f.traffic(t, 1)
	c.Close()

	out := sbuf.String()
	assert.Contains(t, out, `level=DEBUG msg="ferry: served" method=Arith.Add peer=127.0.0.1:`)
	assert.Contains(t, out, `level=WARN msg="ferry: served" method=Arith.Div`)
	assert.Contains(t, out, "code=invalid_argument")
	out = cbuf.String()
	assert.Contains(t, out, `level=DEBUG msg="ferry: called" method=Arith.Add duration=`)
	assert.Contains(t, out, `level=WARN msg="ferry: called" method=Arith.Div`)
}

func TestNilLoggerIsSilentPassThrough(t *testing.T) {
	f := start(t, server.WithInterceptors(debug.ServerLogger(nil)))
	c, err := client.Dial(t.Context(), f.addr, client.WithInterceptors(debug.ClientLogger(nil)))
	require.NoError(t, err)
	defer c.Close()
	var r int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", Args{A: 2, B: 3}, &r))
	assert.Equal(t, int64(5), r)
}

// TestStatsCountsRefusedCalls: calls that fail before any handler runs
// are counted per method and code, apart from the calls that ran.
func TestStatsCountsRefusedCalls(t *testing.T) {
	f := start(t, server.WithMaxConcurrentCalls(1))
	f.traffic(t, 2)
	var r int64
	// Arguments that do not fit: invalid_argument before the handler.
	require.Error(t, f.c.Call(t.Context(), "Arith.Add", "not args", &r))
	require.Error(t, f.c.Call(t.Context(), "Arith.Add", map[string]int{"C": 1}, &r))
	// Unknown methods, one row for all of them.
	require.Error(t, f.c.Call(t.Context(), "Arith.Nope", Args{}, &r))
	require.Error(t, f.c.Call(t.Context(), "No.Such", Args{}, &r))
	// A limit: one call holds the only slot and one waits in the queue
	// (WithMaxConcurrentCalls(1) queues up to 1); the next is refused.
	held := make(chan error, 3)
	go func() { held <- f.c.Call(t.Context(), "Gate.Wait", struct{}{}, nil) }()
	<-f.gate.entered
	for range 2 { // one is queued, the other refused: it answers first
		go func() { held <- f.c.Call(t.Context(), "Gate.Wait", struct{}{}, nil) }()
	}
	refused := <-held
	require.Error(t, refused)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(refused))
	close(f.gate.release)
	<-f.gate.entered // the queued call runs
	require.NoError(t, <-held)
	require.NoError(t, <-held)

	snap := f.st.Snapshot(f.srv)
	add := find(t, snap, "Arith.Add")
	assert.Equal(t, uint64(2), add.Calls, "refused calls are not calls that ran")
	assert.Equal(t, uint64(2), add.Refused)
	assert.Equal(t, map[string]uint64{"invalid_argument": 2}, add.RefusedCodes)
	unreg := find(t, snap, debug.Unregistered)
	assert.Equal(t, uint64(2), unreg.Refused)
	assert.Equal(t, map[string]uint64{"unimplemented": 2}, unreg.RefusedCodes)
	wait := find(t, snap, "Gate.Wait")
	assert.Equal(t, uint64(1), wait.RefusedCodes["resource_exhausted"])
	assert.Equal(t, uint64(2), wait.Calls)
	assert.Positive(t, wait.SinceReadP99, "time since read is measured")
	assert.GreaterOrEqual(t, wait.SinceReadP99, wait.P50, "and includes the handler's time")

	require.Len(t, snap.Conns, 1)
	assert.Equal(t, uint64(2+1+2), snap.Conns[0].Calls, "the connection's calls that ran")
	assert.Equal(t, uint64(1), snap.Conns[0].Errors)
}

// TestStatsCountsCallsMade: ClientInterceptor counts the calls a side
// makes, shown apart from the calls it serves.
func TestStatsCountsCallsMade(t *testing.T) {
	f := start(t)
	cst := debug.New()
	c, err := client.Dial(t.Context(), f.addr, client.WithInterceptors(cst.ClientInterceptor()))
	require.NoError(t, err)
	defer c.Close()
	var r int64
	require.NoError(t, c.Call(t.Context(), "Arith.Add", Args{A: 1, B: 2}, &r))
	require.Error(t, c.Call(t.Context(), "Arith.Div", Args{A: 1}, &r))
	snap := cst.Snapshot(nil)
	require.Len(t, snap.Client, 2)
	assert.Equal(t, "Arith.Add", snap.Client[0].Name)
	assert.Equal(t, uint64(1), snap.Client[0].Calls)
	assert.Equal(t, uint64(1), snap.Client[1].Errors)
	assert.Equal(t, map[string]uint64{"invalid_argument": 1}, snap.Client[1].Codes)
	assert.Empty(t, snap.Methods, "nothing served")

	rec := httptest.NewRecorder()
	cst.Handler(nil).ServeHTTP(rec, httptest.NewRequest("GET", "/debug/ferry", nil))
	assert.Contains(t, rec.Body.String(), `<tr class="client" data-method="Arith.Div">`)
}
