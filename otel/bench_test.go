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
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// discard is a span exporter that drops everything, so that the benchmark
// measures the instrumentation and the SDK, not an exporter's I/O.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

// benchConcurrency is the number of calls in flight.
const benchConcurrency = 16

// benchVariant is one configuration of the benchmarks: interceptors on
// both sides, or none.
type benchVariant struct {
	name string
	// make returns the interceptors; nil for none.
	make func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor)
}

// sampled1 is the usual production sampler for high-rate RPC: 1 % of new
// traces, and the caller's decision inside a trace.
func sampled1() sdktrace.Sampler { return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.01)) }

// benchVariants are the configurations compared with none:
//
//   - passthrough: interceptors that only call next (the cost of having
//     interceptors at all);
//   - busy-300ns: passthrough, but the calling side's interceptor first
//     keeps the processor busy for 300 ns, without allocating: what any
//     fixed work per call costs in this benchmark (a yardstick for the
//     others);
//   - start-1%: passthrough, but the calling side's interceptor starts
//     and ends an SDK span per call as the interceptors do, sampled at
//     1 %, with no propagation and no metrics: the tracer's part of
//     trace-1%;
//   - metadata: passthrough, but the calling side sends one metadata
//     entry the size of a traceparent (55 bytes, the same on every call)
//     and the serving side reads it, with no tracing: what carrying a
//     trace context costs by itself;
//   - metrics: metrics aggregated in a Metrics that an SDK reader
//     collects (WithMetrics), no-op tracing;
//   - metrics-sdk: metrics recorded through an SDK MeterProvider
//     (WithMeterProvider), no-op tracing;
//   - trace-1%: SDK tracing at 1 % (ParentBased(TraceIDRatioBased(0.01)),
//     batched to a discarding exporter), no-op metrics;
//   - both-1%: metrics (as in metrics) and tracing at 1 %;
//   - head-1%: tracing at 1 % decided by the interceptors
//     (WithHeadSampling(0.01) on the calling side, WithHeadSampling(0)
//     on the serving side, which continues the traces its callers
//     sample), SDK tracing that samples what it is asked (its default
//     sampler), no-op metrics;
//   - both-head-1%: metrics (as in metrics) and head-1%'s tracing;
//   - head-0: head-1% with no new trace sampled: what the interceptors
//     cost a call that is not sampled;
//   - always: metrics (as in metrics) and every call traced;
//   - noop: the interceptors on OpenTelemetry's no-op providers.
//
// Trace context travels in metadata (propagation.TraceContext) in all of
// them.
var benchVariants = []benchVariant{
	{"passthrough", func(*testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				return next(ctx, args)
			},
			func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
				return next(ctx, info, args, reply)
			}
	}},
	{"busy-300ns", func(*testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				return next(ctx, args)
			},
			func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
				for t0 := time.Now(); time.Since(t0) < 300*time.Nanosecond; {
				}
				return next(ctx, info, args, reply)
			}
	}},
	{"start-1%", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampled1()), sdktrace.WithBatcher(discard{}))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		tracer := tp.Tracer("bench")
		start := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("rpc.system.name", "ferry"), attribute.String("rpc.method", "Svc.Add"))}
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				return next(ctx, args)
			},
			func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
				ctx, span := tracer.Start(ctx, info.Method, start...)
				err := next(ctx, info, args, reply)
				span.End()
				return err
			}
	}},
	{"metadata", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		md := ferry.Metadata{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"}
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
				if _, ok := ferry.IncomingMetadataValue(ctx, "traceparent"); !ok {
					return nil, ferry.NewError(ferry.CodeInvalidArgument, "no traceparent")
				}
				return next(ctx, args)
			},
			func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
				return next(ferry.NewOutgoingContext(ctx, md), info, args, reply)
			}
	}},
	{"metrics", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return sdkInterceptors(b, true, nil)
	}},
	{"metrics-sdk", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		opts := sdkOptions(b, false, nil)
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		opts = append(opts, ferryotel.WithMeterProvider(mp))
		return ferryotel.ServerInterceptor(opts...), ferryotel.ClientInterceptor(opts...)
	}},
	{"trace-1%", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return sdkInterceptors(b, false, sampled1())
	}},
	{"both-1%", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return sdkInterceptors(b, true, sampled1())
	}},
	{"head-1%", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return headInterceptors(b, false, 0.01)
	}},
	{"both-head-1%", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return headInterceptors(b, true, 0.01)
	}},
	{"head-0", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return headInterceptors(b, false, 0)
	}},
	{"always", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		return sdkInterceptors(b, true, sdktrace.AlwaysSample())
	}},
	{"noop", func(b *testing.B) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
		opts := []ferryotel.Option{
			ferryotel.WithTracerProvider(noop.NewTracerProvider()),
			ferryotel.WithMeterProvider(metricnoop.NewMeterProvider()),
			ferryotel.WithPropagators(propagation.TraceContext{}),
		}
		return ferryotel.ServerInterceptor(opts...), ferryotel.ClientInterceptor(opts...)
	}},
}

// BenchmarkInterceptors measures unary calls (a trivial Svc.Add) over TCP
// loopback at concurrency 16, for none and each of benchVariants: ns/op
// and allocs/op per call, client and server sides together. Compare each
// with none's from the same run; BenchmarkOverhead gives the ratios.
func BenchmarkInterceptors(b *testing.B) {
	b.Run("none", func(b *testing.B) { benchCalls(b, nil, nil) })
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			sic, cic := v.make(b)
			benchCalls(b, sic, cic)
		})
	}
}

// sdkInterceptors returns the interceptors on fresh SDK providers:
// metrics or no-op metrics, and tracing with sampler or, when nil, no-op
// tracing.
func sdkInterceptors(b *testing.B, metrics bool, sampler sdktrace.Sampler) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
	opts := sdkOptions(b, metrics, sampler)
	return ferryotel.ServerInterceptor(opts...), ferryotel.ClientInterceptor(opts...)
}

// headInterceptors returns the interceptors of the head variants: the
// calling side samples ratio of new traces itself, the serving side only
// continues them; the SDK provider samples what it is asked about.
func headInterceptors(b *testing.B, metrics bool, ratio float64) (ferry.ServerInterceptor, ferry.ClientInterceptor) {
	opts := sdkOptions(b, metrics, sdktrace.ParentBased(sdktrace.AlwaysSample()))
	return ferryotel.ServerInterceptor(append(opts, ferryotel.WithHeadSampling(0))...),
		ferryotel.ClientInterceptor(append(opts, ferryotel.WithHeadSampling(ratio))...)
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

// sdkOptions returns interceptor options on fresh SDK providers: metrics
// in a Metrics collected by an SDK manual reader, or no-op metrics, and SDK tracing with sampler
// (batched to a discarding exporter) or, when nil, no-op tracing.
func sdkOptions(b *testing.B, metrics bool, sampler sdktrace.Sampler) []ferryotel.Option {
	opts := []ferryotel.Option{ferryotel.WithPropagators(propagation.TraceContext{})}
	if metrics {
		m := ferryotel.NewMetrics()
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader(sdkmetric.WithProducer(m))))
		b.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
		opts = append(opts, ferryotel.WithMetrics(m))
	} else {
		opts = append(opts, ferryotel.WithMeterProvider(metricnoop.NewMeterProvider()))
	}
	if sampler == nil {
		return append(opts, ferryotel.WithTracerProvider(noop.NewTracerProvider()))
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sampler), sdktrace.WithBatcher(discard{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return append(opts, ferryotel.WithTracerProvider(tp))
}

// BenchmarkOverhead measures the interceptors' overhead at concurrency 16
// as ratios, robust to a busy machine: each iteration makes the same burst
// of calls (16 goroutines × 64 calls) once without interceptors and once
// with, alternating. "ratio" is the wall time with over the wall time
// without (1.15 = 15 % slower, 15 % fewer calls/s), "cpu-ratio" the same
// for the process's CPU time (user + system, getrusage), which other
// programs on the machine disturb less.
func BenchmarkOverhead(b *testing.B) {
	for _, v := range benchVariants {
		b.Run(v.name, func(b *testing.B) {
			plain := startPair(b, nil, nil)
			sic, cic := v.make(b)
			inst := startPair(b, sic, cic)
			burst(b, plain) // warm both up
			burst(b, inst)
			var tPlain, tInst, cPlain, cInst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c0 := cpuTime()
				tPlain += burst(b, plain)
				c1 := cpuTime()
				tInst += burst(b, inst)
				c2 := cpuTime()
				cPlain += c1 - c0
				cInst += c2 - c1
			}
			calls := float64(b.N * benchConcurrency * burstCalls)
			b.ReportMetric(float64(tPlain)/calls, "ns/call-plain")
			b.ReportMetric(float64(tInst)/calls, "ns/call-otel")
			b.ReportMetric(float64(cPlain)/calls, "cpu-ns/call-plain")
			b.ReportMetric(float64(cInst)/calls, "cpu-ns/call-otel")
			b.ReportMetric(float64(tInst)/float64(tPlain), "ratio")
			b.ReportMetric(float64(cInst)/float64(cPlain), "cpu-ratio")
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
