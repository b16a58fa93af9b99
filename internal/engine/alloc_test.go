package engine_test

import (
	"context"
	"net"
	"testing"

	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// plain holds no string, slice or map: decoding it allocates nothing but
// the value itself (the call's args, not counted), so what a call
// allocates beyond that is the framework's.
type plain struct {
	ID     int64
	Ratio  float64
	Active bool
	A, B   uint64
}

// PlainSvc serves plain net/rpc style.
type PlainSvc struct{}

// Echo copies args into reply.
func (PlainSvc) Echo(ctx context.Context, args *plain, reply *plain) error {
	*reply = *args
	return nil
}

// EchoVal takes its args by value.
func (PlainSvc) EchoVal(ctx context.Context, args plain, reply *plain) error {
	*reply = args
	return nil
}

// pipePair runs a calling and a serving engine over a net.Pipe, both Ferry
// peers or both spec-only, the server with a handler limit as package
// server sets one.
func pipePair(tb testing.TB, ferryPeer bool) *engine.Channel {
	tb.Helper()
	r := registry.New()
	ms, err := registry.Reflect("", PlainSvc{})
	require.NoError(tb, err)
	require.NoError(tb, r.Add(ms...))
	require.NoError(tb, r.Add(registry.Typed("Typed.Echo", func(_ context.Context, p *plain) (*plain, error) {
		return p, nil
	})))
	a, b := net.Pipe()
	srv := engine.New(a, engine.Options{Registry: r, FerryPeer: ferryPeer, Limiter: engine.NewLimiter(64, 64)})
	cli := engine.New(b, engine.Options{FerryPeer: ferryPeer})
	srv.Start()
	cli.Start()
	tb.Cleanup(func() {
		cli.Close()
		srv.Close()
	})
	return cli
}

// A call with a string-free message allocates, both ends together, at
// most this much beyond its args value: from a Ferry peer, the handler's
// context (one allocation: a handler may keep it, so it is never reused);
// for a net/rpc-style method, its reply, and by value, reflect.Value.Call's
// two. A spec-only peer's calls reuse their records.
func TestCallAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ctx := context.Background()
	msg := plain{ID: 1 << 40, Ratio: 0.5, Active: true, A: 1 << 50, B: 3}
	for _, tt := range []struct {
		method    string
		ferryPeer bool
		max       float64
	}{
		{"Typed.Echo", true, 1}, {"PlainSvc.Echo", true, 2}, {"PlainSvc.EchoVal", true, 4},
		{"Typed.Echo", false, 0}, {"PlainSvc.Echo", false, 1},
	} {
		cli := pipePair(t, tt.ferryPeer)
		var out plain
		call := func() {
			out = plain{}
			if err := cli.Call(ctx, tt.method, &msg, &out); err != nil {
				t.Fatal(err)
			}
		}
		for range 50 { // warm pools, workers and buffers up
			call()
		}
		got := testing.AllocsPerRun(500, call) - 1 // the args value
		t.Logf("%s (Ferry peer %v): %.2f allocations per call beyond the args", tt.method, tt.ferryPeer, got)
		require.Equal(t, msg, out, tt.method)
		assert.LessOrEqual(t, got, tt.max, "%s (Ferry peer %v)", tt.method, tt.ferryPeer)
	}
}

// A handler may keep its context: once the call has returned it stays
// canceled, however many calls follow on the conn (a record whose context
// was handed out is never reused).
func TestKeptContextStaysCanceled(t *testing.T) {
	kept := make(chan context.Context, 1)
	r := registry.New()
	require.NoError(t, r.Add(registry.Typed("K.Keep", func(ctx context.Context, n *int) (*int, error) {
		select {
		case kept <- ctx:
		default:
		}
		return n, nil
	})))
	a, b := net.Pipe()
	srv := engine.New(a, engine.Options{Registry: r, FerryPeer: true})
	cli := engine.New(b, engine.Options{FerryPeer: true})
	srv.Start()
	cli.Start()
	t.Cleanup(func() {
		cli.Close()
		srv.Close()
	})
	var n int
	require.NoError(t, cli.Call(t.Context(), "K.Keep", 1, &n))
	ctx := <-kept
	for range 100 {
		require.NoError(t, cli.Call(t.Context(), "K.Keep", 2, &n))
		<-kept
	}
	require.ErrorIs(t, ctx.Err(), context.Canceled)
	select {
	case <-ctx.Done():
	default:
		t.Fatal("the kept context's Done is open")
	}
}
