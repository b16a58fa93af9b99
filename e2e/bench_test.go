package e2e_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// benchMsg is a mid-sized message of mixed fields, about 500 bytes encoded.
type benchMsg struct {
	Name    string
	Email   string
	Tags    []string
	ID      int64
	Count   int32
	Ratio   float64
	Active  bool
	Payload string
}

func newBenchMsg() *benchMsg {
	return &benchMsg{
		Name: "ferry benchmark message", Email: "bench@example.invalid",
		Tags: []string{"alpha", "beta", "gamma", "delta"}, ID: 1 << 40, Count: 12345,
		Ratio: 0.75, Active: true, Payload: string(make([]byte, 400)),
	}
}

func benchPair(b *testing.B) *client.Client {
	s := server.New()
	require.NoError(b, server.Handle(s, "Bench.Echo", func(ctx context.Context, m *benchMsg) (*benchMsg, error) {
		return m, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = s.Serve(l) }()
	c, err := client.Dial(context.Background(), l.Addr().String())
	require.NoError(b, err)
	b.Cleanup(func() { c.Close(); s.Close() })
	return c
}

// BenchmarkCall measures synchronous round trips over loopback TCP with 1,
// 16 and 256 goroutines sharing one client.
func BenchmarkCall(b *testing.B) {
	for _, p := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("p=%d", p), func(b *testing.B) {
			c := benchPair(b)
			ctx := context.Background()
			msg := newBenchMsg()
			b.ReportAllocs()
			b.SetParallelism(max(p/runtime.GOMAXPROCS(0), 1))
			b.ResetTimer()
			if p == 1 {
				var out benchMsg
				for i := 0; i < b.N; i++ {
					if err := c.Call(ctx, "Bench.Echo", msg, &out); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				var out benchMsg
				for pb.Next() {
					if err := c.Call(ctx, "Bench.Echo", msg, &out); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkGo measures asynchronous calls with up to 256 outstanding from
// one goroutine.
func BenchmarkGo(b *testing.B) {
	c := benchPair(b)
	ctx := context.Background()
	msg := newBenchMsg()
	const window = 256
	ring := make([]*ferry.Call, 0, window)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(ring) == window {
			if err := ring[0].Wait(); err != nil {
				b.Fatal(err)
			}
			ring = ring[1:]
		}
		ring = append(ring, c.Go(ctx, "Bench.Echo", msg, new(benchMsg)))
	}
	for _, call := range ring {
		if err := call.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBulk measures 1 MiB payloads echoed by 4 goroutines sharing one
// client over loopback TCP; MB/s counts the payload once per call.
func BenchmarkBulk(b *testing.B) {
	s := server.New()
	require.NoError(b, server.Handle(s, "Bench.Bulk", func(_ context.Context, p *[]byte) (*[]byte, error) { return p, nil }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = s.Serve(l) }()
	c, err := client.Dial(context.Background(), l.Addr().String())
	require.NoError(b, err)
	b.Cleanup(func() { c.Close(); s.Close() })
	const size = 1 << 20
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	ctx := context.Background()
	b.SetBytes(size)
	b.ReportAllocs()
	b.SetParallelism(max(4/runtime.GOMAXPROCS(0), 1))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			reply := new([]byte)
			if err := c.Call(ctx, "Bench.Bulk", payload, reply); err != nil {
				b.Error(err)
				return
			}
			if len(*reply) != size || (*reply)[size-1] != payload[size-1] {
				b.Error("echo differs")
				return
			}
		}
	})
}
