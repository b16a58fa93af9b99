package otel_test

import (
	"context"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// discard is a span exporter that drops everything, so that the benchmark
// measures the instrumentation and the SDK, not an exporter's I/O.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// benchConcurrency is the number of calls in flight.
const benchConcurrency = 16

// BenchmarkInterceptors measures unary calls over TCP loopback at
// concurrency 16:
//
//   - none: no interceptors; passthrough: interceptors that only call next;
//   - otel: the OpenTelemetry interceptors on both sides, the SDK recording
//     every span (always sampled, batched to a discarding exporter) and
//     every duration, trace context in metadata;
//   - otel-1%: the same with ParentBased(TraceIDRatioBased(0.01)) sampling,
//     the usual production setting for high-rate RPC;
//   - otel-metrics: SDK metrics, no-op tracing;
//   - otel-noop: the interceptors on OpenTelemetry's global no-op providers.
//
// Compare each ns/op with none's from the same run for the overhead.
func BenchmarkInterceptors(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchCalls(b, nil, nil) })
	b.Run("passthrough", func(b *testing.B) {
		benchCalls(b,
			func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				return next(ctx, args)
			},
			func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
				return next(ctx, info, args, reply)
			})
	})
	b.Run("otel", func(b *testing.B) { benchSDK(b, sdktrace.AlwaysSample()) })
	b.Run("otel-1%", func(b *testing.B) { benchSDK(b, sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))) })
	b.Run("otel-metrics", func(b *testing.B) { benchSDK(b, nil) })
	b.Run("otel-noop", func(b *testing.B) {
		benchCalls(b, ferryotel.ServerInterceptor(), ferryotel.ClientInterceptor())
	})
}

// benchSDK benchmarks the interceptors on the SDK's providers; a nil
// sampler means no-op tracing.
func benchSDK(b *testing.B, sampler sdktrace.Sampler) {
	opts := sdkOptions(b, sampler)
	benchCalls(b, ferryotel.ServerInterceptor(opts...), ferryotel.ClientInterceptor(opts...))
}

func benchCalls(b *testing.B, sic ferry.ServerInterceptor, cic ferry.ClientInterceptor) {
	c := startPair(b, sic, cic)
	b.SetParallelism(max(benchConcurrency/runtime.GOMAXPROCS(0), 1))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		args := &Args{A: 1, B: 2}
		var r int64
		for pb.Next() {
			if err := c.Call(ctx, "Svc.Add", args, &r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// startPair serves Svc.Add over TCP loopback with the given interceptors
// (none when nil) and returns a client; both stop at cleanup.
func startPair(b *testing.B, sic ferry.ServerInterceptor, cic ferry.ClientInterceptor) *client.Client {
	var sopts []server.Option
	var copts []client.Option
	if sic != nil {
		sopts = append(sopts, server.WithInterceptors(sic))
		copts = append(copts, client.WithInterceptors(cic))
	}
	s := server.New(sopts...)
	require.NoError(b, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c, err := client.Dial(context.Background(), l.Addr().String(), copts...)
	require.NoError(b, err)
	b.Cleanup(func() {
		c.Close()
		s.Close()
		<-served
	})
	return c
}

// sdkOptions returns interceptor options on fresh SDK providers; a nil
// sampler means no-op tracing.
func sdkOptions(b *testing.B, sampler sdktrace.Sampler) []ferryotel.Option {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	opts := []ferryotel.Option{ferryotel.WithMeterProvider(mp), ferryotel.WithPropagators(propagation.TraceContext{})}
	if sampler == nil {
		return append(opts, ferryotel.WithTracerProvider(noop.NewTracerProvider()))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discard{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return append(opts, ferryotel.WithTracerProvider(tp))
}

// BenchmarkOverhead measures the interceptors' overhead at concurrency 16
// as a ratio, robust to a busy machine: each iteration makes the same
// burst of calls (16 goroutines × 64 calls) once without interceptors and
// once with, alternating, and "ratio" is the total time with over the
// total time without (1.15 = 15 % slower).
func BenchmarkOverhead(b *testing.B) {
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler
	}{
		{"otel", sdktrace.AlwaysSample()},
		{"otel-1%", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01))},
		{"otel-metrics", nil},
	} {
		b.Run(tc.name, func(b *testing.B) {
			plain := startPair(b, nil, nil)
			opts := sdkOptions(b, tc.sampler)
			inst := startPair(b, ferryotel.ServerInterceptor(opts...), ferryotel.ClientInterceptor(opts...))
			burst(b, plain) // warm both up
			burst(b, inst)
			var tPlain, tInst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tPlain += burst(b, plain)
				tInst += burst(b, inst)
			}
			calls := float64(b.N * benchConcurrency * burstCalls)
			b.ReportMetric(float64(tPlain)/calls, "ns/call-plain")
			b.ReportMetric(float64(tInst)/calls, "ns/call-otel")
			b.ReportMetric(float64(tInst)/float64(tPlain), "ratio")
		})
	}
}

const burstCalls = 64

// burst makes benchConcurrency × burstCalls calls from benchConcurrency
// goroutines and returns how long they took.
func burst(b *testing.B, c *client.Client) time.Duration {
	var wg sync.WaitGroup
	t0 := time.Now()
	for range benchConcurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var r int64
			for range burstCalls {
				if err := c.Call(context.Background(), "Svc.Add", &Args{A: 1, B: 2}, &r); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(t0)
}
