package ferry

import (
	"context"
	"strings"

	"github.com/ferryrpc/ferry/internal/meta"
)

// Metadata is a set of string key/value pairs that travels with a call,
// like HTTP headers. Keys are case-sensitive. A call carries at most
// 1,024 pairs and 64 KiB of them (encoded); a Ferry server refuses more
// with CodeInvalidArgument, and the handler does not run (NotExecuted).
type Metadata map[string]string

// WithOutgoingMetadata returns a context whose calls carry md in addition to
// any metadata ctx already carries; md's values win on conflict. md is
// copied.
func WithOutgoingMetadata(ctx context.Context, md Metadata) context.Context {
	prev := OutgoingMetadata(ctx)
	merged := make(Metadata, len(prev)+len(md))
	for k, v := range prev {
		merged[k] = v
	}
	for k, v := range md {
		merged[k] = v
	}
	return context.WithValue(ctx, meta.OutKey{}, merged)
}

// NewOutgoingContext returns a context whose calls carry md and only md:
// it replaces the metadata ctx carries instead of merging with it. md is
// not copied, so it must not be modified afterwards. It saves the copy
// WithOutgoingMetadata makes, for an interceptor that builds the metadata
// of one call (merging what OutgoingMetadata returns itself).
func NewOutgoingContext(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, meta.OutKey{}, md)
}

// AppendOutgoingMetadata returns a context whose calls carry key=value in
// addition to any metadata ctx carries; the pair wins on conflict, and so
// does a pair appended later over one appended earlier. It copies no map
// and allocates once: the cheapest way for an interceptor to add a pair
// or two to every call (a trace context, a token).
func AppendOutgoingMetadata(ctx context.Context, key, value string) context.Context {
	a := &meta.Appended{Context: ctx, Key: key, Val: value}
	switch prev := ctx.Value(meta.OutKey{}).(type) {
	case Metadata:
		a.Base = prev
	case *meta.Appended:
		a.Base, a.Prev = prev.Base, prev
	}
	return a
}

// OutgoingMetadata returns the metadata that calls made with ctx carry. The
// map must not be modified. After AppendOutgoingMetadata it is a new map
// on every call.
func OutgoingMetadata(ctx context.Context) Metadata {
	switch md := ctx.Value(meta.OutKey{}).(type) {
	case Metadata:
		return md
	case *meta.Appended:
		return md.Map()
	}
	return nil
}

// NewIncomingContext returns a context carrying md as the metadata a
// handler received. It exists for Ferry's server, which sets it on every
// handler's context, and for tests that call a handler directly, without
// a connection; a handler reads it with IncomingMetadata.
func NewIncomingContext(ctx context.Context, md Metadata) context.Context {
	return context.WithValue(ctx, meta.Key{}, md)
}

// IncomingMetadata returns the metadata that arrived with the call being
// handled. The map must not be modified. Incoming metadata is not forwarded
// on calls a handler makes: copy it with WithOutgoingMetadata to propagate.
func IncomingMetadata(ctx context.Context) Metadata {
	switch md := ctx.Value(meta.Key{}).(type) {
	case Metadata:
		return md
	case *meta.Incoming:
		return md.Map() // decoded here, on first use, not by the read loop
	}
	return nil
}

// IncomingMetadataValue returns the value of key in the metadata that
// arrived with the call being handled, and whether it is there. It reads
// that key alone, without building the map IncomingMetadata returns: the
// cheaper way for an interceptor that looks for a key or two (a trace
// context, a token) on every call.
func IncomingMetadataValue(ctx context.Context, key string) (string, bool) {
	switch md := ctx.Value(meta.Key{}).(type) {
	case Metadata:
		v, ok := md[key]
		return v, ok
	case *meta.Incoming:
		return md.Get(key)
	}
	return "", false
}

// sensitive reports whether a metadata key names a secret.
func sensitive(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"auth", "token", "secret", "password", "passwd", "cookie", "key", "credential", "session"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// String renders metadata with the values of secret-looking keys
// (authorization, tokens, passwords, cookies, keys) redacted, so printing
// metadata, or a context carrying it, never leaks them.
func (md Metadata) String() string {
	var b strings.Builder
	b.WriteString("Metadata{")
	first := true
	for k, v := range md {
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(k)
		b.WriteString("=")
		if sensitive(k) {
			b.WriteString("[redacted]")
		} else {
			b.WriteString(v)
		}
	}
	b.WriteString("}")
	return b.String()
}
