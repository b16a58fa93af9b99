package otel

import (
	"context"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	global "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/semconv/v1.40.0/rpcconv"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// SystemName is the value of rpc.system.name on every span and metric.
const SystemName = "ferry"

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/ferryrpc/ferry/otel"

// Option configures the interceptors.
type Option func(*config)

type config struct {
	tp      trace.TracerProvider
	mp      metric.MeterProvider
	metrics *Metrics
	props   propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go. Default (or nil): the global
// provider (otel.GetTracerProvider()) as it is when the interceptor is
// made: one the program sets later is not used, except that an
// interceptor made before the program first sets one follows it, as
// OpenTelemetry's global delegation does.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets where metrics go. Default (or nil): the global
// provider (otel.GetMeterProvider()), as for WithTracerProvider.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

// WithMetrics makes the interceptors record their measurements into m,
// which a reader collects as a Producer, instead of into a MeterProvider:
// the cheaper way when calls take microseconds. WithMeterProvider is then
// not used.
func WithMetrics(m *Metrics) Option { return func(c *config) { c.metrics = m } }

// WithPropagators sets how trace context travels in call metadata.
// Default (or nil): the global propagator (otel.GetTextMapPropagator()), which
// propagates nothing until the program sets one, for example
// propagation.TraceContext{}.
func WithPropagators(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.props = p }
}

// instruments are what one interceptor records with.
type instruments struct {
	tracer trace.Tracer
	trace  bool // false for a no-op tracer provider: spans are skipped
	props  propagation.TextMapPropagator
	w3c    bool                    // props is propagation.TraceContext: see isW3C
	hist   metric.Float64Histogram // rpc.server.call.duration or rpc.client.call.duration
	own    *histogram              // the same in the Metrics of WithMetrics, or nil
	attrs  attrCache
}

// defaults puts the global providers and propagator where an option
// left nil.
func (c *config) defaults() {
	if c.tp == nil {
		c.tp = global.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = global.GetMeterProvider()
	}
	if c.props == nil {
		c.props = global.GetTextMapPropagator()
	}
}

func newInstruments(opts []Option, serverSide bool) *instruments {
	var c config
	for _, o := range opts {
		o(&c)
	}
	c.defaults()
	_, isNoop := c.tp.(noop.TracerProvider)
	in := &instruments{
		tracer: c.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		trace:  !isNoop,
		props:  c.props,
		w3c:    isW3C(c.props),
	}
	if c.metrics != nil {
		if serverSide {
			d := rpcconv.ServerCallDuration{}
			in.own = c.metrics.histogram(d.Name(), d.Description(), d.Unit(), DurationBuckets, true)
		} else {
			d := rpcconv.ClientCallDuration{}
			in.own = c.metrics.histogram(d.Name(), d.Description(), d.Unit(), DurationBuckets, true)
		}
		return in
	}
	meter := c.mp.Meter(ScopeName, metric.WithSchemaURL(semconv.SchemaURL))
	buckets := metric.WithExplicitBucketBoundaries(DurationBuckets...)
	if serverSide {
		h, err := rpcconv.NewServerCallDuration(meter, buckets)
		in.hist = h.Inst()
		if err != nil {
			global.Handle(err)
		}
	} else {
		h, err := rpcconv.NewClientCallDuration(meter, buckets)
		in.hist = h.Inst()
		if err != nil {
			global.Handle(err)
		}
	}
	return in
}

// record records a call's duration d with code.
func (in *instruments) record(ctx context.Context, ma *methodAttrs, code ferry.Code, d time.Duration) {
	if in.own != nil {
		ma.record(code, in.own).own.record(in.own, int64(d))
		return
	}
	if in.hist.Enabled(ctx) {
		in.hist.Record(ctx, d.Seconds(), ma.record(code, nil).opts...)
	}
}

// noSpan stands in when tracing is off.
var noSpan = trace.SpanFromContext(context.Background())

// ServerInterceptor returns an interceptor for the calls a side serves:
// install it with server.WithInterceptors, or client.WithServerInterceptors
// for the calls a server makes back to its client. Each call gets a span
// of kind server, a child of the trace context found in the call's
// metadata, and a rpc.server.call.duration measurement, both from the
// moment the call's message was read (ferry.CallInfo.Received): decoding
// and any wait for a handler count, as the server sees them. Errors
// instrument creation meets go to otel.Handle.
func ServerInterceptor(opts ...Option) ferry.ServerInterceptor {
	in := newInstruments(opts, true)
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		ma := in.attrs.method(info.Method)
		// The call started when its message was read: the duration
		// includes decoding and any wait for a handler, as the server
		// sees it.
		t0 := info.Received
		if t0.IsZero() {
			t0 = time.Now()
		}
		span := noSpan
		if in.trace {
			ctx = in.extract(ctx)
			// A caller that did not sample the trace gets no server span:
			// its decision holds (as ParentBased samplers, the SDK's
			// default, decide), and the handler's own calls carry it on.
			if !unsampled(ctx) {
				opts := append(ma.serverStart[:len(ma.serverStart):len(ma.serverStart)], trace.WithTimestamp(t0))
				ctx, span = in.tracer.Start(ctx, info.Method, opts...)
			}
		}
		reply, err := next(ctx, args)
		d := time.Since(t0)
		code := ferry.CodeOf(err)
		if span.IsRecording() {
			if p := server.PeerFromContext(ctx); p != nil {
				span.SetAttributes(peerAttrs(p.RemoteAddr())...)
			}
			span.SetAttributes(statusKVs(code)...)
			if err != nil && serverFault(code) {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End()
		in.record(ctx, ma, code, d)
		return reply, err
	}
}

// ClientInterceptor returns an interceptor for the calls a side makes:
// install it with client.WithInterceptors, or server.WithClientInterceptors
// for the calls a server makes to its clients through a Peer. Each call
// gets a span of kind client whose context travels in the call's metadata,
// and a rpc.client.call.duration measurement.
func ClientInterceptor(opts ...Option) ferry.ClientInterceptor {
	in := newInstruments(opts, false)
	return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		ma := in.attrs.method(info.Method)
		span := noSpan
		// Inside a trace that is not sampled, no span: the call carries
		// the parent's context and decision on.
		if in.trace && !unsampled(ctx) {
			ctx, span = in.tracer.Start(ctx, info.Method, ma.clientStart...)
		}
		ctx = in.inject(ctx)
		t0 := now()
		err := next(ctx, info, args, reply)
		d := now() - t0
		code := ferry.CodeOf(err)
		if span.IsRecording() {
			span.SetAttributes(statusKVs(code)...)
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End()
		in.record(ctx, ma, code, d)
		return err
	}
}

// epoch is the origin of now.
var epoch = time.Now()

// now returns the monotonic time since epoch, which reads one clock where
// time.Now reads two.
func now() time.Duration { return time.Since(epoch) }

// unsampled reports whether ctx carries a valid span context whose trace
// is not sampled.
func unsampled(ctx context.Context) bool {
	sc := trace.SpanContextFromContext(ctx)
	return sc.IsValid() && !sc.IsSampled()
}

// serverFault reports whether a code means the server failed, which marks
// a server span as an error; the caller's mistakes (invalid_argument,
// not_found, ...) do not. This follows what OpenTelemetry specifies for
// gRPC.
func serverFault(c ferry.Code) bool {
	switch c {
	case ferry.CodeUnknown, ferry.CodeDeadlineExceeded, ferry.CodeUnimplemented,
		ferry.CodeInternal, ferry.CodeUnavailable, ferry.CodeDataLoss:
		return true
	}
	return false
}

// peerAttrs returns network.peer.address and network.peer.port.
func peerAttrs(a net.Addr) []attribute.KeyValue {
	if tcp, ok := a.(*net.TCPAddr); ok {
		return []attribute.KeyValue{semconv.NetworkPeerAddress(tcp.IP.String()), semconv.NetworkPeerPort(tcp.Port)}
	}
	if a != nil {
		return []attribute.KeyValue{semconv.NetworkPeerAddress(a.String())}
	}
	return nil
}
