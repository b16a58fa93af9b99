package e2e_test

// Promises of the auth package docs.

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// named is a fmt.Stringer identity that is not an auth.Identity.
type named struct{ n string }

func (n named) String() string { return n.n }

// TestPkgDocsPolicyMatching checks auth.Policy's docs: a fmt.Stringer
// identity is matched by name; deny patterns ignore ASCII and Unicode case
// while allow patterns match exactly; "Service.*" is every name starting
// with "Service."; a denial is CodePermissionDenied, not executed.
func TestPkgDocsPolicyMatching(t *testing.T) {
	p, err := auth.NewPolicy(
		auth.Rule{Identity: "émile", Allow: []string{"Élan.*", "Café.Get"}, Deny: []string{"élan.purge"}},
	)
	require.NoError(t, err)
	id := named{"émile"}
	assert.NoError(t, p.Allow(id, "Élan.Read"))
	assert.NoError(t, p.Allow(id, "Élan.Sub.Deep"), "every name that starts with the service and a dot")
	assert.NoError(t, p.Allow(id, "Café.Get"))
	assert.Error(t, p.Allow(id, "CAFÉ.Get"), "allow is exact")
	assert.Error(t, p.Allow(id, "Élan"), "the service name alone is not Élan.*")
	for _, m := range []string{"Élan.Purge", "ÉLAN.PURGE", "élan.purge"} {
		err := p.Allow(id, m)
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), m)
		assert.True(t, ferry.NotExecuted(err), m)
	}
	assert.Error(t, p.Allow(named{"Émile"}, "Élan.Read"), "identity names match exactly")
}

// TestPkgDocsCertificateNames checks "URI SANs, DNS SANs, then the subject
// common name. Empty names are left out."
func TestPkgDocsCertificateNames(t *testing.T) {
	u, err := url.Parse("spiffe://example.org/billing")
	require.NoError(t, err)
	c := &x509.Certificate{
		URIs:     []*url.URL{u, {}},
		DNSNames: []string{"billing.example.org", ""},
		Subject:  pkix.Name{CommonName: "billing"},
	}
	assert.Equal(t, []string{"spiffe://example.org/billing", "billing.example.org", "billing"}, auth.CertificateNames(c))
	assert.Empty(t, auth.CertificateNames(&x509.Certificate{}))
}

// TestPkgDocsTokenFile checks LoadTokens' file format: "NAME TOKEN" lines,
// blank lines and # comments ignored, several lines sharing a NAME, a token
// listed twice (even for the same name) refused; and Authenticate's
// Identity with Source "token" and a refusal that never holds the token.
func TestPkgDocsTokenFile(t *testing.T) {
	const t1, t2 = "token-one-0123456789", "token-two-0123456789"
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("# name token\n\n  \nalice "+t1+"\nalice\t"+t2+"\n"), 0o600))
	tokens, err := auth.LoadTokens(good, nil)
	require.NoError(t, err)
	for _, tok := range []string{t1, t2} {
		id, err := tokens.Authenticate(context.Background(), ferry.AuthInfo{Token: tok})
		require.NoError(t, err)
		assert.Equal(t, auth.Identity{Name: "alice", Source: "token"}, id)
	}
	wrong := "token-bad-0123456789"
	_, err = tokens.Authenticate(context.Background(), ferry.AuthInfo{Token: wrong})
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
	assert.NotContains(t, err.Error(), wrong)

	twice := filepath.Join(dir, "twice")
	require.NoError(t, os.WriteFile(twice, []byte("alice "+t1+"\nalice "+t1+"\n"), 0o600))
	_, err = auth.LoadTokens(twice, nil)
	require.Error(t, err)
	assert.NotContains(t, err.Error(), t1)
	short := filepath.Join(dir, "short")
	require.NoError(t, os.WriteFile(short, []byte("alice "+strings.Repeat("x", auth.MinTokenLen-1)+"\n"), 0o600))
	_, err = auth.LoadTokens(short, nil)
	assert.Error(t, err)
	exact := filepath.Join(dir, "exact")
	require.NoError(t, os.WriteFile(exact, []byte("alice "+strings.Repeat("x", auth.MinTokenLen)+"\n"), 0o600))
	_, err = auth.LoadTokens(exact, nil)
	assert.NoError(t, err)
}
