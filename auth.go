package ferry

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
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
// connection's handlers find with IdentityFromContext, or an error: the
// connection's calls then fail with CodeUnauthenticated and no handler
// runs. Package auth has ready ones: static tokens, client certificates.
type AuthFunc func(ctx context.Context, info AuthInfo) (identity any, err error)

type identityKey struct{}

// WithIdentity returns a context carrying the authenticated identity of a
// connection. The server sets it on every handler's context.
func WithIdentity(ctx context.Context, identity any) context.Context {
	return context.WithValue(ctx, identityKey{}, identity)
}

// IdentityFromContext returns the identity the server's AuthFunc gave the
// calling connection, or nil.
func IdentityFromContext(ctx context.Context) any {
	return ctx.Value(identityKey{})
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
