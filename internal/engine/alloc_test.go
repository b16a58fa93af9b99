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

// pipePair runs a calling and a serving engine, both Ferry peers, over a
// net.Pipe, the server with a handler limit as package server sets one.
func pipePair(tb testing.TB) *engine.Channel {
	tb.Helper()
	r := registry.New()
	ms, err := registry.Reflect("", PlainSvc{})
	require.NoError(tb, err)
	require.NoError(tb, r.Add(ms...))
	require.NoError(tb, r.Add(registry.Typed("Typed.Echo", func(_ context.Context, p *plain) (*plain, error) {
		return p, nil
	})))
	a, b := net.Pipe()
	srv := engine.New(a, engine.Options{Registry: r, FerryPeer: true, Limiter: engine.NewLimiter(64, 64)})
	cli := engine.New(b, engine.Options{FerryPeer: true})
	srv.Start()
	cli.Start()
	tb.Cleanup(func() {
		cli.Close()
		srv.Close()
	})
	return cli
}

// A call with a string-free message allocates, both ends together, at
// most this much beyond its args value: the handler's context (one
// allocation: a handler may keep it, so it is never reused) and, for a
// net/rpc-style method, its reply; by value, reflect.Value.Call's two.
func TestCallAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	cli := pipePair(t)
	ctx := context.Background()
	msg := plain{ID: 1 << 40, Ratio: 0.5, Active: true, A: 1 << 50, B: 3}
	for _, tt := range []struct {
		method string
		max    float64
	}{{"Typed.Echo", 1}, {"PlainSvc.Echo", 2}, {"PlainSvc.EchoVal", 4}} {
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
		t.Logf("%s: %.2f allocations per call beyond the args", tt.method, got)
		require.Equal(t, msg, out, tt.method)
		assert.LessOrEqual(t, got, tt.max, tt.method)
	}
}
