package otel

import (
	"github.com/ferryrpc/ferry"
	"go.opentelemetry.io/otel/propagation"
)

// MetadataCarrier lets an OpenTelemetry propagator read and write Ferry
// call metadata: Inject into a fresh map passed to
// ferry.WithOutgoingMetadata, Extract from ferry.IncomingMetadata. Keys
// are stored as the propagator gives them ("traceparent", "tracestate",
// "baggage"). Set must not be used on incoming metadata, which is
// read-only.
type MetadataCarrier ferry.Metadata

var _ propagation.TextMapCarrier = MetadataCarrier(nil)

// Get returns the value of key, or "".
func (c MetadataCarrier) Get(key string) string { return c[key] }

// Set stores value under key.
func (c MetadataCarrier) Set(key, value string) { c[key] = value }

// Keys lists the keys present.
func (c MetadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
