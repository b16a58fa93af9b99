package otel

import (
	"context"
	"math"
	"math/rand/v2"
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
	head    bool    // WithHeadSampling was given
	ratio   float64 // its ratio
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

// WithHeadSampling makes the interceptors decide themselves, before any
// span exists, which new traces to sample. A call made, a call served or
// a stream opened outside any trace (no span in its context, no trace
// context in its metadata) starts one with probability ratio (0 to 1);
// the others get no span, no trace IDs and no trace context in their
// metadata, so that they cost the interceptors a random number and no
// work of the tracer's. Inside a trace the caller's decision holds, as
// without this option. On the serving side a handler whose call was not
// sampled gets a context that says so, and the calls it makes through
// interceptors with this option start no trace of their own.
//
// Without it (the default), every call outside a trace asks the tracer
// for a span, and its provider's sampler decides; a trace that is not
// sampled still gets IDs, and its context travels in the metadata so that
// the decision holds downstream. With it, a decision not to sample does
// not cross the wire: the next server sees a call outside any trace and
// decides again at its own ratio. Give servers that only serve
// instrumented callers WithHeadSampling(0): they continue the traces
// their callers sample and start none.
//
// The provider's sampler still sees the traces this option samples:
// use it with one that samples every trace it is asked about, such as
// the SDK's default, ParentBased(AlwaysSample()); a TraceIDRatioBased(r)
// sampler would sample ratio × r of the traces.
func WithHeadSampling(ratio float64) Option {
	return func(c *config) { c.head, c.ratio = true, ratio }
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
	// head is set by WithHeadSampling: a new trace is started when a
	// random uint64 is below below, or always when all is set.
	head       bool
	all        bool
	below      uint64
	serverSide bool
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
		tracer:     c.tp.Tracer(ScopeName, trace.WithSchemaURL(semconv.SchemaURL)),
		trace:      !isNoop,
		props:      c.props,
		w3c:        isW3C(c.props),
		head:       c.head,
		all:        c.head && c.ratio >= 1,
		below:      headBelow(c.ratio),
		serverSide: serverSide,
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

// measuring reports whether a call with ctx is to be measured: always
// into a Metrics, and into the SDK's histogram when it is enabled (not
// with a no-op MeterProvider). A call not measured reads no clock for it.
func (in *instruments) measuring(ctx context.Context) bool {
	return in.own != nil || in.hist != nil && in.hist.Enabled(ctx)
}

// record records a call's duration d with code; measuring said yes.
func (in *instruments) record(ctx context.Context, ma *methodAttrs, code ferry.Code, d time.Duration) {
	if in.own != nil {
		ma.record(code, in.own).own.record(in.own, int64(d))
		return
	}
	in.hist.Record(ctx, d.Seconds(), ma.record(code, nil).opts...)
}

// noSpan stands in when tracing is off.
var noSpan = trace.SpanFromContext(context.Background())

// headBelow is ratio × 2⁶⁴ as a threshold for a random uint64: 0 (never)
// for ratio ≤ 0 or NaN, up to 2⁶⁴ − 2¹¹ below 1 (instruments.all covers
// ratio ≥ 1).
func headBelow(ratio float64) uint64 {
	if !(ratio > 0) {
		return 0
	}
	return uint64(math.Ldexp(min(ratio, math.Nextafter(1, 0)), 64))
}

// declinedKey marks a served call's context, under WithHeadSampling, as
// not sampled: calls made with it start no trace.
type declinedKey struct{}

// declined is a served call's context marked with declinedKey: smaller
// than context.WithValue's.
type declined struct{ context.Context }

func (c declined) Value(key any) any {
	if _, ok := key.(declinedKey); ok {
		return true
	}
	return c.Context.Value(key)
}

// sample reports whether a call or stream with ctx gets a span, and
// whether ctx is outside any trace (root), and returns the context to go
// on with. Inside a trace the trace's decision holds. Outside one,
// without WithHeadSampling, the tracer's sampler decides when the span is
// started; with it, the decision is made here, once, and a serving side's
// "no" is kept in the handler's context, which only a serving side's
// handler can hold.
func (in *instruments) sample(ctx context.Context) (_ context.Context, start, root bool) {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return ctx, sc.IsSampled(), false
	}
	if !in.head {
		return ctx, true, true
	}
	if !in.serverSide && ctx.Value(declinedKey{}) != nil {
		return ctx, false, true
	}
	if in.all || rand.Uint64() < in.below {
		return ctx, true, true
	}
	if in.serverSide {
		ctx = declined{ctx}
	}
	return ctx, false, true
}

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
		measure := in.measuring(ctx)
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
			var start bool
			if ctx, start, _ = in.sample(ctx); start {
				opts := append(ma.serverStart[:len(ma.serverStart):len(ma.serverStart)], trace.WithTimestamp(t0))
				ctx, span = in.tracer.Start(ctx, info.Method, opts...)
			}
		}
		reply, err := next(ctx, args)
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
		if measure {
			in.record(ctx, ma, code, time.Since(t0))
		}
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
		if in.trace {
			sctx, start, root := in.sample(ctx)
			if start {
				ctx, span = in.tracer.Start(sctx, info.Method, ma.clientStart...)
			}
			// A new trace not sampled (WithHeadSampling) has no context
			// to carry; baggage goes through a propagator other than
			// TraceContext.
			if start || !root || !in.w3c {
				ctx = in.inject(ctx)
			}
		} else {
			ctx = in.inject(ctx)
		}
		measure := in.measuring(ctx)
		var t0 time.Duration
		if measure {
			t0 = now()
		}
		err := next(ctx, info, args, reply)
		code := ferry.CodeOf(err)
		if span.IsRecording() {
			span.SetAttributes(statusKVs(code)...)
			if err != nil {
				span.SetStatus(codes.Error, err.Error())
			}
		}
		span.End()
		if measure {
			in.record(ctx, ma, code, now()-t0)
		}
		return err
	}
}

// epoch is the origin of now.
var epoch = time.Now()

// now returns the monotonic time since epoch, which reads one clock where
// time.Now reads two.
func now() time.Duration { return time.Since(epoch) }

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
