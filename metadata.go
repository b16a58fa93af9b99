package ferry

import "context"

// Metadata is a set of string key/value pairs that travels with a call,
// like HTTP headers. Keys are case-sensitive.
type Metadata map[string]string

type outgoingKey struct{}
type incomingKey struct{}

// WithOutgoingMetadata returns a context whose calls carry md in addition to
// any metadata ctx already carries; md's values win on conflict. md is
// copied.
func WithOutgoingMetadata(ctx context.Context, md Metadata) context.Context {
	prev, _ := ctx.Value(outgoingKey{}).(Metadata)
	merged := make(Metadata, len(prev)+len(md))
	for k, v := range prev {
		merged[k] = v
	}
	for k, v := range md {
		merged[k] = v
	}
	return context.WithValue(ctx, outgoingKey{}, merged)
}

// OutgoingMetadata returns the metadata that calls made with ctx carry. The
// map must not be modified.
func OutgoingMetadata(ctx context.Context) Metadata {
	md, _ := ctx.Value(outgoingKey{}).(Metadata)
	return md
}

// NewIncomingContext returns a context carrying md as the metadata a
// handler received. The server sets it; tests may use it to call handlers
// directly.
func NewIncomingContext(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, incomingKey{}, md)
}

// IncomingMetadata returns the metadata that arrived with the call being
// handled. The map must not be modified. Incoming metadata is not forwarded
// on calls a handler makes: copy it with WithOutgoingMetadata to propagate.
func IncomingMetadata(ctx context.Context) Metadata {
	md, _ := ctx.Value(incomingKey{}).(Metadata)
	return md
}
