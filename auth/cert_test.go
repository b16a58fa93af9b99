package auth_test

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCertificates(t *testing.T) {
	ca := testcerts.NewCA("test CA")
	spiffe, _ := url.Parse("spiffe://example.org/billing")
	full := ca.Issue(testcerts.Options{CommonName: "billing-cn", DNSNames: []string{"billing.internal"}, URIs: []*url.URL{spiffe}, Client: true}).Leaf
	cnOnly := ca.Issue(testcerts.Options{CommonName: "cn-only", Client: true}).Leaf
	verified := func(c *x509.Certificate) ferry.AuthInfo {
		return ferry.AuthInfo{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{c}, VerifiedChains: [][]*x509.Certificate{{c, ca.Cert}}}}
	}
	assert.Equal(t, []string{"spiffe://example.org/billing", "billing.internal", "billing-cn"}, auth.CertificateNames(full))
	cases := []struct {
		accept []string
		info   ferry.AuthInfo
		want   string // "" for a refusal
	}{
		{nil, verified(full), "spiffe://example.org/billing"},
		{nil, verified(cnOnly), "cn-only"},
		{[]string{"spiffe://example.org/*"}, verified(full), "spiffe://example.org/billing"},
		{[]string{"billing.internal"}, verified(full), "billing.internal"},
		{[]string{"billing-cn"}, verified(full), "billing-cn"},
		{[]string{"spiffe://example.org/payments"}, verified(full), ""},
		{[]string{"spiffe://other.org/*"}, verified(full), ""},
		{[]string{"billing.internal"}, verified(cnOnly), ""},
		{nil, ferry.AuthInfo{}, ""},                                                                       // plaintext
		{nil, ferry.AuthInfo{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{full}}}, ""}, // presented, not verified
		{nil, ferry.AuthInfo{TLS: &tls.ConnectionState{}}, ""},
	}
	for i, c := range cases {
		id, err := auth.Certificates(c.accept...)(t.Context(), c.info)
		if c.want == "" {
			require.Error(t, err, "case %d", i)
			assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
			continue
		}
		require.NoError(t, err, "case %d", i)
		assert.Equal(t, auth.Identity{Name: c.want, Source: "certificate"}, id)
	}
	assert.Panics(t, func() { auth.Certificates("a*b") })
	assert.Panics(t, func() { auth.Certificates("") })
}

func TestAll(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{tokAlice: "alice"})
	require.NoError(t, err)
	ca := testcerts.NewCA("test CA")
	leaf := ca.Issue(testcerts.Options{CommonName: "svc", Client: true}).Leaf
	tlsInfo := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}
	both := auth.All(auth.Certificates(), tokens.Authenticate)
	id, err := both(t.Context(), ferry.AuthInfo{TLS: tlsInfo, Token: tokAlice})
	require.NoError(t, err)
	assert.Equal(t, auth.Identity{Name: "alice", Source: "token"}, id)
	_, err = both(t.Context(), ferry.AuthInfo{Token: tokAlice})
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
	_, err = both(t.Context(), ferry.AuthInfo{TLS: tlsInfo, Token: tokBob})
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
	_, err = auth.All()(t.Context(), ferry.AuthInfo{})
	assert.Error(t, err)
}

func TestMatching(t *testing.T) {
	tokens, err := auth.NewTokens(map[string]string{tokAlice: "spiffe://test/alice", tokBob: "spiffe://test/bob"})
	require.NoError(t, err)
	ca := testcerts.NewCA("test CA")
	leaf := ca.Issue(testcerts.Options{CommonName: "alice", URIs: []*url.URL{{Scheme: "spiffe", Host: "test", Path: "/alice"}}, Client: true}).Leaf
	tlsInfo := &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}
	match := auth.Matching(auth.Certificates("spiffe://test/*"), tokens.Authenticate)
	id, err := match(t.Context(), ferry.AuthInfo{TLS: tlsInfo, Token: tokAlice})
	require.NoError(t, err)
	assert.Equal(t, auth.Identity{Name: "spiffe://test/alice", Source: "token"}, id)
	_, err = match(t.Context(), ferry.AuthInfo{TLS: tlsInfo, Token: tokBob})
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "bob's token with alice's certificate")
	_, err = auth.All(auth.Certificates("spiffe://test/*"), tokens.Authenticate)(t.Context(), ferry.AuthInfo{TLS: tlsInfo, Token: tokBob})
	assert.NoError(t, err, "All does not compare names")
	_, err = auth.Matching()(t.Context(), ferry.AuthInfo{})
	assert.Error(t, err)
}
