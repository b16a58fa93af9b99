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

// allocMethods are the handlers BenchmarkCallAllocs calls.
var allocMethods = []string{"Typed.Echo", "PlainSvc.Echo", "PlainSvc.EchoVal"}

// BenchmarkCallAllocs measures calls with a string-free message over
// loopback TCP, at 1, 16 and 256 callers on one client, for reflection and
// typed handlers: allocs/op minus one (the server's args value) is the
// framework's, yamux's included (internal/engine's TestCallAllocations
// counts the engine's alone).
func BenchmarkCallAllocs(b *testing.B) {
	for _, m := range allocMethods {
		for _, p := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("%s/p=%d", m, p), func(b *testing.B) {
				c := allocClient(b)
				ctx := context.Background()
				msg := newPlainMsg()
				b.ReportAllocs()
				b.SetParallelism(max(p/runtime.GOMAXPROCS(0), 1))
				b.ResetTimer()
				cpu0 := cpuTime()
				defer func() { // the process's CPU time per call: steadier than ns/op on a busy machine
					b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				}()
				if p == 1 {
					var out plainMsg
					for i := 0; i < b.N; i++ {
						if err := c.Call(ctx, m, msg, &out); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					var out plainMsg
					for pb.Next() {
						if err := c.Call(ctx, m, msg, &out); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}
