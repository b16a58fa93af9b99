package ferry

import (
	"context"
	"crypto/tls"
	"net"
)

// AuthInfo is what a server's authentication hook sees of a new
// connection, before any call on it is read.
type AuthInfo struct {
	RemoteAddr net.Addr
	TLS        *tls.ConnectionState // nil on a plaintext connection
	Token      string               // the client's token (client.WithToken); "" when none was sent
}

// String describes the connection without revealing the token.
func (a AuthInfo) String() string {
	tok := "none"
	if a.Token != "" {
		tok = "[redacted]"
	}
	return "AuthInfo{remote=" + addrString(a.RemoteAddr) + " tls=" + boolString(a.TLS != nil) + " token=" + tok + "}"
}

func addrString(a net.Addr) string {
	if a == nil {
		return "<nil>"
	}
	return a.String()
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// AuthFunc authenticates a connection. It returns the identity that the
// connection's handlers find with IdentityFromContext, or an error: no
// handler runs for the connection, and a Ferry client's Dial fails, not
// executed, with that error's code when it carries one (an *Error, or an
// error wrapping one: CodeUnavailable, say, when the token service is
// down; a context error) and with CodeUnauthenticated for any other
// error. The calls of a connection not authenticated (a bare
// MessagePack-RPC client's) fail with CodeUnauthenticated. Package auth
// has ready ones: static tokens, client certificates.
type AuthFunc func(ctx context.Context, info AuthInfo) (identity any, err error)

type identityKey struct{}

// WithIdentity returns a context carrying the authenticated identity of a
// connection. It exists for Ferry's server, which sets it on every
// handler's context, and for tests that call a handler directly; a
// handler reads it with IdentityFromContext.
func WithIdentity(ctx context.Context, identity any) context.Context {
	return context.WithValue(ctx, identityKey{}, identity)
}

// IdentityFromContext returns the identity the server's AuthFunc gave the
// calling connection, or nil.
func IdentityFromContext(ctx context.Context) any {
	return ctx.Value(identityKey{})
}
