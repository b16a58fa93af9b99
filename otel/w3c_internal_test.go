package otel

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// w3cInstruments are instruments whose propagator is TraceContext, which
// takes the fast path.
func w3cInstruments(t testing.TB) *instruments {
	in := newInstruments([]Option{WithPropagators(propagation.TraceContext{})}, true)
	require.True(t, in.w3c)
	return in
}

// extractBoth extracts the span context from the traceparent and
// tracestate given ("" for absent) both ways: the fast path and
// TraceContext's own Extract.
func extractBoth(t testing.TB, in *instruments, tp, ts string) (fast, otel trace.SpanContext) {
	md := ferry.Metadata{}
	if tp != "" {
		md[traceparentKey] = tp
	}
	if ts != "" {
		md[tracestateKey] = ts
	}
	ctx := ferry.NewIncomingContext(context.Background(), md)
	fast = trace.SpanContextFromContext(in.extract(ctx))
	otel = trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), MetadataCarrier(md)))
	return fast, otel
}

// TestW3CMatchesTraceContext: with propagation.TraceContext, the
// interceptors write the same metadata as its Inject and read the same
// span context as its Extract, for random span contexts (every flag byte,
// with and without tracestate) and for traceparents valid and broken in
// every field.
func TestW3CMatchesTraceContext(t *testing.T) {
	in := w3cInstruments(t)
	rng := rand.New(rand.NewPCG(3, 4))
	ts, err := trace.ParseTraceState("vendor=a,other=b")
	require.NoError(t, err)
	for i := range 2000 {
		var scc trace.SpanContextConfig
		for j := range scc.TraceID {
			scc.TraceID[j] = byte(rng.Uint32())
		}
		for j := range scc.SpanID {
			scc.SpanID[j] = byte(rng.Uint32())
		}
		if i%50 == 0 {
			scc.TraceID = trace.TraceID{} // invalid: nothing is written
		}
		scc.TraceFlags = trace.TraceFlags(i % 256)
		if i%2 == 0 {
			scc.TraceState = ts
		}
		sc := trace.NewSpanContext(scc)
		ctx := trace.ContextWithSpanContext(context.Background(), sc)

		want := ferry.Metadata{}
		propagation.TraceContext{}.Inject(ctx, MetadataCarrier(want))
		got := ferry.OutgoingMetadata(in.inject(ctx))
		if len(want) == 0 {
			assert.Empty(t, got, "span context %d", i)
		} else {
			assert.Equal(t, want, got, "span context %d", i)
		}
		if tp := want[traceparentKey]; tp != "" {
			fast, otel := extractBoth(t, in, tp, want[tracestateKey])
			assert.Equal(t, otel, fast, "round trip of %q", tp)
			assert.True(t, fast.IsRemote())
		}
	}

	valid := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, tp := range []string{
		valid,
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-04", // reserved flag in version 00
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff",
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff", // a later version keeps sampled and random
		"01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-more-fields",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-more", // version 00 allows nothing more
		"fe-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01", // upper case
		"00-00000000000000000000000000000000-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
		"00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1",
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
		"0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
		"00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
		"00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
		"-", "--", "---", "----", "00", "x",
		strings.Repeat("0", 55),
	} {
		for _, ts := range []string{"", "vendor=a", "not a tracestate"} {
			fast, otel := extractBoth(t, in, tp, ts)
			assert.Equal(t, otel, fast, "traceparent %q, tracestate %q", tp, ts)
		}
	}
	fast, _ := extractBoth(t, in, valid, "")
	assert.True(t, fast.IsValid(), "the check above compares something")
	assert.True(t, fast.IsSampled())
}

// FuzzTraceparent: any traceparent and tracestate read by the fast path
// give what TraceContext's Extract gives.
func FuzzTraceparent(f *testing.F) {
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=a")
	f.Add("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff-x", "")
	f.Add("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-04", "a=1,a=2")
	f.Add("ff--", "=")
	in := w3cInstruments(f)
	f.Fuzz(func(t *testing.T, tp, ts string) {
		if tp == "" {
			return // absent and empty are the same to a carrier
		}
		fast, otel := extractBoth(t, in, tp, ts)
		if !assert.Equal(t, otel, fast) {
			t.Logf("traceparent %q, tracestate %q", tp, ts)
		}
	})
}

// BenchmarkTraceparent measures formatting a span context as a
// traceparent and parsing it back, what every traced call costs its two
// sides.
func BenchmarkTraceparent(b *testing.B) {
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c},
		SpanID:     trace.SpanID{0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31},
		TraceFlags: trace.FlagsSampled,
	})
	b.ReportAllocs()
	for b.Loop() {
		scc, ok := parseTraceparent(traceparent(sc))
		if !ok || scc.SpanID != sc.SpanID() {
			b.Fatal("did not round-trip")
		}
	}
}
