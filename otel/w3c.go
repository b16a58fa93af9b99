package otel

import (
	"context"
	"encoding/hex"
	"strings"

	"github.com/ferryrpc/ferry"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The W3C Trace Context fields, as propagation.TraceContext names them.
const (
	traceparentKey = "traceparent"
	tracestateKey  = "tracestate"
)

// isW3C reports whether p is propagation.TraceContext itself, whose work
// the interceptors then do without a carrier: the same fields, written
// and read the same way (TestW3CMatchesTraceContext), with fewer
// allocations on every call.
func isW3C(p propagation.TextMapPropagator) bool {
	_, ok := p.(propagation.TraceContext)
	return ok
}

// inject returns ctx with the trace context and baggage it holds added to
// the outgoing metadata, or ctx itself when it holds neither: a call
// outside any trace, with tracing off, costs no propagation. The pairs are
// appended to the context (ferry.AppendOutgoingMetadata) without a map.
func (in *instruments) inject(ctx context.Context) context.Context {
	sc := trace.SpanContextFromContext(ctx)
	if in.w3c {
		return injectW3C(ctx, sc)
	}
	if !sc.IsValid() && baggage.FromContext(ctx).Len() == 0 {
		return ctx
	}
	c := &outgoingCarrier{ctx: ctx}
	in.props.Inject(ctx, c)
	return c.ctx
}

// injectW3C does what propagation.TraceContext's Inject does into ctx's
// outgoing metadata.
func injectW3C(ctx context.Context, sc trace.SpanContext) context.Context {
	if !sc.IsValid() {
		return ctx
	}
	if ts := sc.TraceState().String(); ts != "" {
		ctx = ferry.AppendOutgoingMetadata(ctx, tracestateKey, ts)
	}
	return ferry.AppendOutgoingMetadata(ctx, traceparentKey, traceparent(sc))
}

// traceparent formats sc as version 00 of the traceparent field, keeping
// only the flags the specification defines (sampled and random).
func traceparent(sc trace.SpanContext) string {
	var b [55]byte
	b[0], b[1], b[2] = '0', '0', '-'
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	flags := sc.TraceFlags() & (trace.FlagsSampled | trace.FlagsRandom)
	hex.Encode(b[53:55], []byte{byte(flags)})
	return string(b[:])
}

// extract returns ctx with the remote trace context found in the call's
// incoming metadata, if any.
func (in *instruments) extract(ctx context.Context) context.Context {
	if !in.w3c {
		return in.props.Extract(ctx, incomingCarrier{ctx})
	}
	h, ok := ferry.IncomingMetadataValue(ctx, traceparentKey)
	if !ok {
		return ctx
	}
	scc, ok := parseTraceparent(h)
	if !ok {
		return ctx
	}
	// As the specification says, a tracestate that does not parse does not
	// stop the traceparent from being used.
	if ts, ok := ferry.IncomingMetadataValue(ctx, tracestateKey); ok {
		scc.TraceState, _ = trace.ParseTraceState(ts)
	}
	scc.Remote = true
	sc := trace.NewSpanContext(scc)
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// parseTraceparent reads a traceparent field as the W3C specification
// and propagation.TraceContext do: four lower-case hex fields separated
// by dashes (version, trace id, parent id, flags); version ff is invalid,
// version 00 allows nothing after the flags nor reserved flags, a later
// version may add fields after a dash. Only the sampled and random flags
// are kept.
func parseTraceparent(h string) (trace.SpanContextConfig, bool) {
	var scc trace.SpanContextConfig
	var ver, flags [1]byte
	if !hexPart(ver[:], &h, 2) || ver[0] > 254 ||
		!hexPart(scc.TraceID[:], &h, 32) ||
		!hexPart(scc.SpanID[:], &h, 16) ||
		!hexPart(flags[:], &h, 2) {
		return scc, false
	}
	if ver[0] == 0 && (h != "" || flags[0] > 3) {
		return scc, false
	}
	scc.TraceFlags = trace.TraceFlags(flags[0]) & (trace.FlagsSampled | trace.FlagsRandom)
	return scc, true
}

// hexPart decodes the field before the next dash of *h (or the rest of it)
// into dst, which must be n/2 bytes, and leaves *h after the dash; it
// fails unless the field is n lower-case hex digits.
func hexPart(dst []byte, h *string, n int) bool {
	part, rest, _ := strings.Cut(*h, "-")
	*h = rest
	if len(part) != n {
		return false
	}
	bad := byte(0)
	for i := range dst[:n/2] {
		hi, lo := lowerHex[part[2*i]], lowerHex[part[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0x0f
	}
	return bad&0x10 == 0
}

// lowerHex maps a lower-case hex digit to its value and every other byte
// to 0x10, so that one test after a whole field finds any bad digit.
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0x10
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// outgoingCarrier lets any propagator add fields to a call's outgoing
// metadata with ferry.AppendOutgoingMetadata: Set appends to ctx.
type outgoingCarrier struct{ ctx context.Context }

var _ propagation.TextMapCarrier = (*outgoingCarrier)(nil)

func (c *outgoingCarrier) Get(key string) string { return ferry.OutgoingMetadata(c.ctx)[key] }

func (c *outgoingCarrier) Set(key, value string) {
	c.ctx = ferry.AppendOutgoingMetadata(c.ctx, key, value)
}

func (c *outgoingCarrier) Keys() []string {
	return MetadataCarrier(ferry.OutgoingMetadata(c.ctx)).Keys()
}
