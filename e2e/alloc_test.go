package e2e_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// plainMsg holds no string, slice or map: decoding it allocates nothing
// but the value itself, so what a call allocates beyond the server's args
// value is the framework's.
type plainMsg struct {
	ID     int64
	Count  int32
	Ratio  float64
	Active bool
	A, B   uint64
	C, D   int16
}

func newPlainMsg() *plainMsg {
	return &plainMsg{ID: 1 << 40, Count: 12345, Ratio: 0.75, Active: true, A: 1 << 50, B: 7, C: -3, D: 300}
}

// PlainSvc serves plainMsg net/rpc style (reflection).
type PlainSvc struct{}

// Echo copies args into reply.
func (PlainSvc) Echo(ctx context.Context, args *plainMsg, reply *plainMsg) error {
	*reply = *args
	return nil
}

// EchoVal takes its args by value and no context.
func (PlainSvc) EchoVal(args plainMsg, reply *plainMsg) error {
	*reply = args
	return nil
}

// allocClient serves PlainSvc and a typed echo over loopback TCP.
func allocClient(tb testing.TB) *client.Client {
	s := server.New()
	require.NoError(tb, s.Register(PlainSvc{}))
	require.NoError(tb, server.Handle(s, "Typed.Echo", func(ctx context.Context, m *plainMsg) (*plainMsg, error) {
		return m, nil
	}))
	c, _ := ferrytest.ServeAndDial(tb, s)
	return c
}

// allocMethods are the handlers the allocation checks call, with the most
// framework allocations per call each may make, both ends together, over
// loopback TCP with one caller: the server's args value (one allocation,
// the message's own) is not counted.
var allocMethods = []struct {
	method string
	max    float64
}{
	{"Typed.Echo", 2},
	{"PlainSvc.Echo", 2},
	{"PlainSvc.EchoVal", 2},
}

// A call allocates, both ends together, no more than the bound above
// beyond its message: reflection dispatch passes the context and reuses
// its argument slices and replies, the engine reuses its inbound records,
// the client its pending entries.
func TestCallAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := allocClient(t)
	ctx := context.Background()
	msg := newPlainMsg()
	for _, m := range allocMethods {
		var out plainMsg
		call := func() {
			out = plainMsg{}
			if err := c.Call(ctx, m.method, msg, &out); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 { // warm up pools, workers and buffers
			call()
		}
		got := testing.AllocsPerRun(2000, call) - 1 // the args value
		t.Logf("%s: %.2f framework allocations per call", m.method, got)
		require.Equal(t, *msg, out, m.method)
		require.LessOrEqual(t, got, m.max, m.method)
	}
}

// BenchmarkCallAllocs measures calls with a string-free message, at 1, 16
// and 256 callers on one client, for reflection and typed handlers:
// allocs/op minus one (the server's args value) is the framework's.
func BenchmarkCallAllocs(b *testing.B) {
	for _, m := range allocMethods {
		for _, p := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/p=%d", m.method, p), func(b *testing.B) {
				c := allocClient(b)
				ctx := context.Background()
				msg := newPlainMsg()
				b.ReportAllocs()
				b.SetParallelism(max(p/runtime.GOMAXPROCS(0), 1))
				if p == 1 {
					b.SetParallelism(1)
				}
				b.ResetTimer()
				if p == 1 {
					var out plainMsg
					for b.Loop() {
						if err := c.Call(ctx, m.method, msg, &out); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					var out plainMsg
					for pb.Next() {
						if err := c.Call(ctx, m.method, msg, &out); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
