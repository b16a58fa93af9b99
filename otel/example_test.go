package otel_test

import (
	"context"
	"fmt"
	"net"

	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// ExampleNewMetrics aggregates call durations in a Metrics, which an SDK
// reader collects as a Producer. A real program would give the reader an
// exporter (sdkmetric.NewPeriodicReader(exporter, sdkmetric.WithProducer(m))).
func ExampleNewMetrics() {
	ctx := context.Background()
	m := ferryotel.NewMetrics()
	reader := sdkmetric.NewManualReader(sdkmetric.WithProducer(m))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(ctx)

	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(ferryotel.WithMetrics(m))))
	_ = server.Handle(s, "Svc.Double", func(ctx context.Context, n *int) (*int, error) {
		r := 2 * *n
		return &r, nil
	})
	cc, sc := net.Pipe()
	go s.ServeConn(sc)
	defer s.Close()
	c, err := client.New(cc, client.WithInterceptors(ferryotel.ClientInterceptor(ferryotel.WithMetrics(m))))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	for i := range 3 {
		var r int
		if err := c.Call(ctx, "Svc.Double", i, &r); err != nil {
			fmt.Println(err)
			return
		}
	}

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, sm := range rm.ScopeMetrics {
		for _, md := range sm.Metrics {
			for _, dp := range md.Data.(metricdata.Histogram[float64]).DataPoints {
				method, _ := dp.Attributes.Value("rpc.method")
				code, _ := dp.Attributes.Value("rpc.response.status_code")
				fmt.Println(md.Name, method.AsString(), code.AsString(), dp.Count)
			}
		}
	}
	// Output:
	// rpc.server.call.duration Svc.Double OK 3
	// rpc.client.call.duration Svc.Double OK 3
}

// ExampleWithHeadSampling samples new traces at the calling side, here
// every second one on average (a real edge would take 0.01 or less),
// while the server only continues the traces its callers sample. Calls
// not sampled make no span and carry no trace context.
func ExampleWithHeadSampling() {
	ctx := context.Background()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)) // the default sampler keeps what it is given
	defer tp.Shutdown(ctx)
	common := []ferryotel.Option{ferryotel.WithTracerProvider(tp), ferryotel.WithPropagators(propagation.TraceContext{})}

	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(append(common, ferryotel.WithHeadSampling(0))...)))
	_ = server.Handle(s, "Svc.Double", func(ctx context.Context, n *int) (*int, error) {
		r := 2 * *n
		return &r, nil
	})
	cc, sc := net.Pipe()
	go s.ServeConn(sc)
	defer s.Close()
	c, err := client.New(cc, client.WithInterceptors(ferryotel.ClientInterceptor(append(common, ferryotel.WithHeadSampling(0.5))...)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	const calls = 200
	for i := range calls {
		var r int
		if err := c.Call(ctx, "Svc.Double", i, &r); err != nil {
			fmt.Println(err)
			return
		}
	}
	spans := rec.Ended()
	clients := 0
	for _, sp := range spans {
		if sp.SpanKind().String() == "client" {
			clients++
		}
	}
	fmt.Println("every sampled call has both spans:", len(spans) == 2*clients)
	fmt.Println("between a quarter and three quarters sampled:", clients > calls/4 && clients < 3*calls/4)
	// Output:
	// every sampled call has both spans: true
	// between a quarter and three quarters sampled: true
}
