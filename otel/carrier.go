package otel

import (
	"context"

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

// incomingCarrier lets a propagator read the metadata a call arrived with
// key by key (ferry.IncomingMetadataValue), without decoding the whole
// map on every call. It is read-only: Set does nothing.
type incomingCarrier struct{ ctx context.Context }

var _ propagation.TextMapCarrier = incomingCarrier{}

func (c incomingCarrier) Get(key string) string {
	v, _ := ferry.IncomingMetadataValue(c.ctx, key)
	return v
}

func (c incomingCarrier) Set(string, string) {}

func (c incomingCarrier) Keys() []string {
	return MetadataCarrier(ferry.IncomingMetadata(c.ctx)).Keys()
}
