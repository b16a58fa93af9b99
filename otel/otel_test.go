package otel_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Args struct{ A, B int64 }

// telemetry is an in-memory trace and metric pipeline.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	opts   []ferryotel.Option
}

func newTelemetry(t *testing.T) *telemetry { return newTelemetryMode(t, meterProvider) }

// The two ways the interceptors record metrics.
const (
	meterProvider = "meter-provider" // WithMeterProvider: the SDK's instruments
	producer      = "producer"       // WithMetrics: a Metrics the reader collects
)

var metricModes = []string{meterProvider, producer}

// newTelemetryMode is newTelemetry with metrics recorded as mode says.
func newTelemetryMode(t *testing.T, mode string) *telemetry {
	t.Helper()
	tel := &telemetry{spans: tracetest.NewSpanRecorder()}
	metrics := ferryotel.WithMeterProvider(nil)
	if mode == producer {
		m := ferryotel.NewMetrics()
		tel.reader = sdkmetric.NewManualReader(sdkmetric.WithProducer(m))
		metrics = ferryotel.WithMetrics(m)
	} else {
		tel.reader = sdkmetric.NewManualReader()
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	if mode != producer {
		metrics = ferryotel.WithMeterProvider(mp)
	}
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel.opts = []ferryotel.Option{
		ferryotel.WithTracerProvider(tp), metrics,
		ferryotel.WithPropagators(propagation.TraceContext{}),
	}
	return tel
}

// pair connects a server and a client over a pipe, both instrumented in
// both directions. The server offers Svc.Add, Svc.Div and Svc.Ask (which
// calls the client's Client.Ping back); the client offers Client.Ping.
func pair(t *testing.T, tel *telemetry) *client.Client {
	t.Helper()
	s := server.New(
		server.WithInterceptors(ferryotel.ServerInterceptor(tel.opts...)),
		server.WithClientInterceptors(ferryotel.ClientInterceptor(tel.opts...)),
	)
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	require.NoError(t, server.Handle(s, "Svc.Div", func(ctx context.Context, a *Args) (*int64, error) {
		return nil, ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}))
	require.NoError(t, server.Handle(s, "Svc.Boom", func(ctx context.Context, a *Args) (*int64, error) {
		return nil, ferry.NewError(ferry.CodeInternal, "boom")
	}))
	require.NoError(t, server.Handle(s, "Svc.Ask", func(ctx context.Context, q *string) (*string, error) {
		var answer string
		err := server.PeerFromContext(ctx).Call(ctx, "Client.Ping", *q, &answer)
		return &answer, err
	}))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc,
		client.WithInterceptors(ferryotel.ClientInterceptor(tel.opts...)),
		client.WithServerInterceptors(ferryotel.ServerInterceptor(tel.opts...)),
	)
	require.NoError(t, err)
	require.NoError(t, client.Handle(c, "Client.Ping", func(ctx context.Context, q *string) (*string, error) {
		r := "pong: " + *q
		return &r, nil
	}))
	t.Cleanup(func() { c.Close(); s.Close(); <-done })
	return c
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func TestTraceCrossesBothDirections(t *testing.T) {
	tel := newTelemetry(t)
	c := pair(t, tel)
	tracer := sdktrace.NewTracerProvider().Tracer("test")
	ctx, root := tracer.Start(t.Context(), "root")
	var answer string
	require.NoError(t, c.Call(ctx, "Svc.Ask", "hi", &answer))
	root.End()
	assert.Equal(t, "pong: hi", answer)

	spans := tel.spans.Ended()
	require.Len(t, spans, 4)
	byKey := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byKey[s.Name()+"/"+s.SpanKind().String()] = s
		assert.Equal(t, root.SpanContext().TraceID(), s.SpanContext().TraceID(), "one trace: %s", s.Name())
	}
	askClient, askServer := byKey["Svc.Ask/client"], byKey["Svc.Ask/server"]
	pingClient, pingServer := byKey["Client.Ping/client"], byKey["Client.Ping/server"]
	require.NotNil(t, askClient)
	require.NotNil(t, askServer)
	require.NotNil(t, pingClient)
	require.NotNil(t, pingServer)
	assert.Equal(t, root.SpanContext().SpanID(), askClient.Parent().SpanID())
	assert.Equal(t, askClient.SpanContext().SpanID(), askServer.Parent().SpanID())
	assert.True(t, askServer.Parent().IsRemote())
	assert.Equal(t, askServer.SpanContext().SpanID(), pingClient.Parent().SpanID(), "the callback is a child of the handler")
	assert.Equal(t, pingClient.SpanContext().SpanID(), pingServer.Parent().SpanID())

	a := attrs(askServer.Attributes())
	assert.Equal(t, "ferry", a["rpc.system.name"])
	assert.Equal(t, "Svc.Ask", a["rpc.method"])
	assert.Equal(t, "OK", a["rpc.response.status_code"])
	assert.Equal(t, trace.SpanKindServer, askServer.SpanKind())
	assert.Equal(t, codes.Unset, askServer.Status().Code)
}

func TestErrorStatusAndMetrics(t *testing.T) {
	for _, mode := range metricModes {
		t.Run(mode, func(t *testing.T) { testErrorStatusAndMetrics(t, newTelemetryMode(t, mode)) })
	}
}

func testErrorStatusAndMetrics(t *testing.T, tel *telemetry) {
	c := pair(t, tel)
	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	require.Error(t, c.Call(t.Context(), "Svc.Div", Args{A: 1}, &r))
	require.Error(t, c.Call(t.Context(), "Svc.Boom", Args{}, &r))

	status := map[string]codes.Code{}
	for _, s := range tel.spans.Ended() {
		status[s.Name()+"/"+s.SpanKind().String()] = s.Status().Code
		if s.Name() == "Svc.Div" {
			a := attrs(s.Attributes())
			assert.Equal(t, "INVALID_ARGUMENT", a["rpc.response.status_code"])
			assert.Equal(t, "INVALID_ARGUMENT", a["error.type"])
		}
	}
	assert.Equal(t, codes.Error, status["Svc.Div/client"], "every failure is a client error")
	assert.Equal(t, codes.Unset, status["Svc.Div/server"], "the caller's mistake is not a server error")
	assert.Equal(t, codes.Error, status["Svc.Boom/server"])

	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(t.Context(), &rm))
	counts := map[string]uint64{}
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, ferryotel.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			assert.Equal(t, "s", m.Unit)
			h, ok := m.Data.(metricdata.Histogram[float64])
			require.True(t, ok, m.Name)
			assert.Equal(t, metricdata.CumulativeTemporality, h.Temporality)
			for _, dp := range h.DataPoints {
				assert.Equal(t, ferryotel.DurationBuckets, dp.Bounds, "the conventions' buckets, in seconds")
				var n uint64
				for _, b := range dp.BucketCounts {
					n += b
				}
				assert.Equal(t, dp.Count, n)
				lo, _ := dp.Min.Value()
				hi, _ := dp.Max.Value()
				assert.Positive(t, lo)
				assert.LessOrEqual(t, lo, hi)
				assert.GreaterOrEqual(t, dp.Sum, lo*float64(dp.Count)*(1-1e-9))
				assert.LessOrEqual(t, dp.Sum, hi*float64(dp.Count)*(1+1e-9))
				method, _ := dp.Attributes.Value("rpc.method")
				code, _ := dp.Attributes.Value("rpc.response.status_code")
				system, _ := dp.Attributes.Value("rpc.system.name")
				assert.Equal(t, "ferry", system.AsString())
				counts[m.Name+" "+method.AsString()+" "+code.AsString()] += dp.Count
			}
		}
	}
	assert.Equal(t, map[string]uint64{
		"rpc.client.call.duration Svc.Add OK":               2,
		"rpc.server.call.duration Svc.Add OK":               2,
		"rpc.client.call.duration Svc.Div INVALID_ARGUMENT": 1,
		"rpc.server.call.duration Svc.Div INVALID_ARGUMENT": 1,
		"rpc.client.call.duration Svc.Boom INTERNAL":        1,
		"rpc.server.call.duration Svc.Boom INTERNAL":        1,
	}, counts)
}

func TestServerSpanHasPeerAddress(t *testing.T) {
	tel := newTelemetry(t)
	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(tel.opts...)))
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() { s.Close(); <-served }()
	c, err := client.Dial(t.Context(), l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 1, B: 2}, &r))
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	a := attrs(spans[0].Attributes())
	assert.Equal(t, "127.0.0.1", a["network.peer.address"])
	assert.NotEmpty(t, a["network.peer.port"])
	assert.False(t, spans[0].Parent().IsValid(), "an uninstrumented caller starts a new trace")
}

func TestMetadataCarrier(t *testing.T) {
	md := ferry.Metadata{"a": "1"}
	c := ferryotel.MetadataCarrier(md)
	c.Set("traceparent", "x")
	assert.Equal(t, "x", md["traceparent"])
	assert.Equal(t, "1", c.Get("a"))
	assert.ElementsMatch(t, []string{"a", "traceparent"}, c.Keys())
}

func TestDefaultsUseGlobalProviders(t *testing.T) {
	// The global providers are no-ops: calls still work, nothing records.
	s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor()))
	require.NoError(t, server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}))
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	c, err := client.New(cc, client.WithInterceptors(ferryotel.ClientInterceptor()))
	require.NoError(t, err)
	defer func() { c.Close(); s.Close(); <-done }()
	var r int64
	require.NoError(t, c.Call(t.Context(), "Svc.Add", Args{A: 2, B: 2}, &r))
	assert.Equal(t, int64(4), r)
}

func TestMetricsWithNoopTracing(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: reader, opts: []ferryotel.Option{
		ferryotel.WithMeterProvider(mp), ferryotel.WithTracerProvider(noop.NewTracerProvider()),
		ferryotel.WithPropagators(propagation.TraceContext{}),
	}}
	c := pair(t, tel)
	var answer string
	require.NoError(t, c.Call(t.Context(), "Svc.Ask", "hi", &answer))
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(t.Context(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	assert.Len(t, rm.ScopeMetrics[0].Metrics, 2, "client and server durations")
}

// TestServerDurationFromReceived checks that a served call's duration and
// span start when its message was read (CallInfo.Received), not when the
// interceptor runs: the wait for a handler counts.
func TestServerDurationFromReceived(t *testing.T) {
	tel := newTelemetryMode(t, producer)
	ic := ferryotel.ServerInterceptor(tel.opts...)
	received := time.Now().Add(-time.Second)
	_, err := ic(t.Context(), &ferry.CallInfo{Method: "Svc.Late", Received: received}, nil,
		func(context.Context, any) (any, error) { return nil, nil })
	require.NoError(t, err)

	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(t.Context(), &rm))
	require.Len(t, rm.ScopeMetrics, 1)
	require.Len(t, rm.ScopeMetrics[0].Metrics, 1)
	dps := rm.ScopeMetrics[0].Metrics[0].Data.(metricdata.Histogram[float64]).DataPoints
	require.Len(t, dps, 1)
	assert.GreaterOrEqual(t, dps[0].Sum, 1.0)
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	assert.True(t, spans[0].StartTime().Equal(received), "the span starts at %v, not %v", spans[0].StartTime(), received)
}

// TestPropagatorsRoundTrip: over a real connection, the trace context
// reaches the handler and the server span is the client span's child with
// TraceContext itself (which the interceptors write and read without a
// carrier) and inside a composite with Baggage (which goes through a
// carrier), and the baggage arrives too; metadata the caller set travels
// beside them.
func TestPropagatorsRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		props   propagation.TextMapPropagator
		baggage bool
	}{
		{"TraceContext", propagation.TraceContext{}, false},
		{"composite", propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel := newTelemetry(t)
			opts := append(tel.opts, ferryotel.WithPropagators(tc.props))
			s := server.New(server.WithInterceptors(ferryotel.ServerInterceptor(opts...)))
			type seen struct{ User, Mine, Parent string }
			require.NoError(t, server.Handle(s, "Svc.Seen", func(ctx context.Context, _ *struct{}) (*seen, error) {
				mine, _ := ferry.IncomingMetadataValue(ctx, "mine")
				return &seen{
					User:   baggage.FromContext(ctx).Member("user").Value(),
					Mine:   mine,
					Parent: trace.SpanFromContext(ctx).SpanContext().SpanID().String(),
				}, nil
			}))
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			c, err := client.Dial(t.Context(), l.Addr().String(), client.WithInterceptors(ferryotel.ClientInterceptor(opts...)))
			require.NoError(t, err)
			defer func() { c.Close(); s.Close(); <-served }()

			member, err := baggage.NewMember("user", "ada")
			require.NoError(t, err)
			bag, err := baggage.New(member)
			require.NoError(t, err)
			ctx := ferry.WithOutgoingMetadata(baggage.ContextWithBaggage(t.Context(), bag), ferry.Metadata{"mine": "kept"})
			var got seen
			require.NoError(t, c.Call(ctx, "Svc.Seen", struct{}{}, &got))

			spans := tel.spans.Ended()
			require.Len(t, spans, 2)
			var cli, srv sdktrace.ReadOnlySpan
			for _, sp := range spans {
				if sp.SpanKind() == trace.SpanKindClient {
					cli = sp
				} else {
					srv = sp
				}
			}
			require.NotNil(t, cli)
			require.NotNil(t, srv)
			assert.Equal(t, cli.SpanContext().TraceID(), srv.SpanContext().TraceID())
			assert.Equal(t, cli.SpanContext().SpanID(), srv.Parent().SpanID())
			assert.True(t, srv.Parent().IsRemote())
			assert.Equal(t, srv.SpanContext().SpanID().String(), got.Parent, "the handler runs in the server span")
			assert.Equal(t, "kept", got.Mine)
			if tc.baggage {
				assert.Equal(t, "ada", got.User)
			} else {
				assert.Empty(t, got.User, "TraceContext alone carries no baggage")
			}
		})
	}
}
