package auth

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/ferryrpc/ferry"
)

// Certificates returns a ferry.AuthFunc that accepts a connection only if
// the TLS handshake verified the client's certificate chain (the server's
// tls.Config has ClientAuth tls.RequireAndVerifyClientCert or
// tls.VerifyClientCertIfGiven and a ClientCAs pool; pemfile's server
// config does this), and maps the certificate to an Identity (Source
// "certificate"). A plaintext connection, or a certificate that was
// presented but not verified against a CA (tls.RequireAnyClientCert), is
// refused with CodeUnauthenticated.
//
// A certificate's names are, in this order: its URI SANs (a SPIFFE ID
// such as spiffe://example.org/billing), its DNS SANs, then its subject
// common name. With no accept patterns, any verified certificate is
// accepted and its identity is its first name. Otherwise the identity is
// the first of its names that matches an accept pattern, and a
// certificate with none matching is refused: a pattern is a name, or a
// prefix ending in "*" ("spiffe://example.org/*"). It panics on an empty
// pattern or a "*" anywhere but at the end.
func Certificates(accept ...string) ferry.AuthFunc {
	for _, p := range accept {
		if p == "" || strings.Contains(strings.TrimSuffix(p, "*"), "*") {
			panic(fmt.Sprintf("ferry: auth.Certificates: bad pattern %q (a name, or a prefix ending in *)", p))
		}
	}
	return func(_ context.Context, info ferry.AuthInfo) (any, error) {
		if info.TLS == nil {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "a client certificate is required: the connection is not over TLS")
		}
		if len(info.TLS.VerifiedChains) == 0 || len(info.TLS.VerifiedChains[0]) == 0 {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "no verified client certificate (the server must verify client certificates against a CA)")
		}
		names := CertificateNames(info.TLS.VerifiedChains[0][0])
		if len(accept) == 0 {
			if len(names) == 0 {
				return nil, ferry.NewError(ferry.CodeUnauthenticated, "the client certificate carries no name")
			}
			return Identity{Name: names[0], Source: "certificate"}, nil
		}
		for _, n := range names {
			for _, p := range accept {
				if matchName(p, n) {
					return Identity{Name: n, Source: "certificate"}, nil
				}
			}
		}
		return nil, ferry.NewError(ferry.CodeUnauthenticated, "the client certificate's names are not accepted")
	}
}

// CertificateNames returns the names a certificate carries, in the order
// Certificates considers them: URI SANs, DNS SANs, then the subject common
// name. Empty names are left out.
func CertificateNames(c *x509.Certificate) []string {
	var names []string
	for _, u := range c.URIs {
		if s := u.String(); s != "" {
			names = append(names, s)
		}
	}
	for _, d := range c.DNSNames {
		if d != "" {
			names = append(names, d)
		}
	}
	if cn := c.Subject.CommonName; cn != "" {
		names = append(names, cn)
	}
	return names
}

func matchName(pattern, name string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return pattern == name
}
