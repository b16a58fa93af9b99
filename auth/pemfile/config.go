package pemfile

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
)

// ServerConfig returns a config for server.WithTLS that serves the
// current certificate, and, with a CAFile, requires a client certificate
// verified against the current CA pool (pair it with auth.Certificates to
// turn that certificate into an identity). It is an error without
// CertFile.
func (f *Files) ServerConfig() (*tls.Config, error) {
	if f.o.CertFile == "" {
		return nil, errors.New("ferry: pemfile: a server needs CertFile and KeyFile")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			f.maybeReload()
			return f.snap.Load().server, nil
		},
	}, nil
}

// ClientConfig returns a config for client.WithTLS that presents the
// current certificate (if CertFile is set) and verifies the server's
// certificate chain against the current CA pool (or the system's roots
// without CAFile) and Options.ServerName. It is an error without
// ServerName.
//
// Go's tls.Config has no hook to change the roots of a client config
// after it is made, so the config verifies the server itself: it sets
// InsecureSkipVerify, which only turns off Go's built-in check, and does
// the same check in VerifyConnection (chain to a current root, validity
// dates, server-authentication key usage, the name). Do not clear
// VerifyConnection on a copy.
func (f *Files) ClientConfig() (*tls.Config, error) {
	name := f.o.ServerName
	if name == "" {
		return nil, errors.New("ferry: pemfile: a client needs ServerName, the name to verify in the server's certificate")
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         name,
		InsecureSkipVerify: true, // VerifyConnection verifies, against the current roots
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			f.maybeReload()
			if c := f.snap.Load().cert; c != nil {
				return c, nil
			}
			return &tls.Certificate{}, nil // none: the server decides
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			f.maybeReload()
			return verifyServer(cs, name, f.snap.Load().pool)
		},
	}, nil
}

// verifyServer checks the server's chain as Go's client would, against
// roots (nil: the system's).
func verifyServer(cs tls.ConnectionState, name string, roots *x509.CertPool) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("ferry: pemfile: the server sent no certificate")
	}
	if _, err := verifyChains(cs, name, roots); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	return nil
}

// verifyChains verifies the server's chain for name against roots.
func verifyChains(cs tls.ConnectionState, name string, roots *x509.CertPool) ([][]*x509.Certificate, error) {
	opts := x509.VerifyOptions{Roots: roots, DNSName: name, Intermediates: x509.NewCertPool()}
	for _, c := range cs.PeerCertificates[1:] {
		opts.Intermediates.AddCert(c)
	}
	return cs.PeerCertificates[0].Verify(opts) // its errors start with "x509: "
}

// ServerAuth returns a ferry.AuthFunc for client.WithServerAuth: it checks
// the server's certificate chain against the current CA pool (or the
// system's roots) and Options.ServerName, as ClientConfig's
// VerifyConnection does, and then maps the certificate to an identity
// with auth.Certificates(accept...), so that a client can require, say,
// spiffe://example.org/server and its handlers see who calls them. It is
// needed with ClientConfig: that config verifies the server itself, so Go
// leaves ConnectionState.VerifiedChains empty and auth.Certificates alone
// would refuse every server.
func (f *Files) ServerAuth(accept ...string) ferry.AuthFunc {
	certs := auth.Certificates(accept...)
	return func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		if info.TLS == nil || len(info.TLS.PeerCertificates) == 0 {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "the server sent no certificate")
		}
		chains, err := verifyChains(*info.TLS, f.o.ServerName, f.snap.Load().pool)
		if err != nil {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, err.Error())
		}
		st := *info.TLS
		st.VerifiedChains = chains
		info.TLS = &st
		return certs(ctx, info)
	}
}
