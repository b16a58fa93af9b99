package auth_test

// Audit of the package doc and go doc output: promises the other tests
// of this package do not check.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditMatchingComparesTheSelectedName: "With Certificates, the
// certificate's name compared is the one its accept patterns selected",
// not the certificate's first name.
func TestAuditMatchingComparesTheSelectedName(t *testing.T) {
	ca := testcerts.NewCA("test CA")
	leaf := ca.Issue(testcerts.Options{CommonName: "alice-cn", DNSNames: []string{"alice.internal"},
		URIs: []*url.URL{{Scheme: "spiffe", Host: "test", Path: "/alice"}}, Client: true}).Leaf
	info := ferry.AuthInfo{TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}, Token: tokAlice}

	byDNS, err := auth.NewTokens(map[string]string{tokAlice: "alice.internal"})
	require.NoError(t, err)
	id, err := auth.Matching(auth.Certificates("alice.internal"), byDNS.Authenticate)(t.Context(), info)
	require.NoError(t, err)
	assert.Equal(t, auth.Identity{Name: "alice.internal", Source: "token"}, id, "the last fn's identity")
	_, err = auth.Matching(auth.Certificates(), byDNS.Authenticate)(t.Context(), info)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "no patterns: the first name, the SPIFFE ID, is compared")

	bySPIFFE, err := auth.NewTokens(map[string]string{tokAlice: "spiffe://test/alice"})
	require.NoError(t, err)
	_, err = auth.Matching(auth.Certificates("alice.*"), bySPIFFE.Authenticate)(t.Context(), info)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "the selected name is alice.internal")
	_, err = auth.Matching(auth.Certificates("alice-cn"), auth.Certificates("spiffe://*"))(t.Context(), info)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
}

// TestAuditUnverifiedClientCertificateOverTLS: over a real TLS connection,
// a certificate presented but not verified against a CA
// (tls.RequireAnyClientCert), or none at all (VerifyClientCertIfGiven),
// makes Dial fail with CodeUnauthenticated and NotExecuted, and no call
// reaches a handler; a verified one is accepted with its identity.
func TestAuditUnverifiedClientCertificateOverTLS(t *testing.T) {
	ca := testcerts.NewCA("test CA")
	srvCert := ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	cliCert := ca.Issue(testcerts.Options{CommonName: "alice", Client: true})
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)

	for _, tc := range []struct {
		name     string
		auth     tls.ClientAuthType
		present  bool
		accepted bool
	}{
		{"RequireAnyClientCert", tls.RequireAnyClientCert, true, false},
		{"VerifyClientCertIfGiven without one", tls.VerifyClientCertIfGiven, false, false},
		{"VerifyClientCertIfGiven with one", tls.VerifyClientCertIfGiven, true, true},
		{"RequireAndVerifyClientCert", tls.RequireAndVerifyClientCert, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs atomic.Int32
			s := server.New(
				server.WithTLS(&tls.Config{Certificates: []tls.Certificate{srvCert}, ClientAuth: tc.auth, ClientCAs: pool, MinVersion: tls.VersionTLS12}),
				server.WithAuth(auth.Certificates()),
			)
			require.NoError(t, server.Handle(s, "Who.Am", func(ctx context.Context, _ *struct{}) (*string, error) {
				runs.Add(1)
				n := ferry.IdentityFromContext(ctx).(auth.Identity).String()
				return &n, nil
			}))
			addr := ferrytest.Serve(t, s)
			ccfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
			if tc.present {
				ccfg.Certificates = []tls.Certificate{cliCert}
			}
			c, err := client.Dial(t.Context(), addr, client.WithTLS(ccfg))
			if !tc.accepted {
				require.Error(t, err)
				assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
				assert.True(t, ferry.NotExecuted(err))
				assert.Zero(t, runs.Load())
				return
			}
			require.NoError(t, err)
			defer c.Close()
			var who string
			require.NoError(t, c.Call(t.Context(), "Who.Am", struct{}{}, &who))
			assert.Equal(t, "alice", who, "Identity.String is the name")
		})
	}
}

// TestAuditSmallPromises: Identity.String holds the name and no secret;
// Reload on NewTokens does nothing; NewTokens refuses a short token and
// an empty name; a token MinTokenLen long is accepted; Rule's JSON tags
// as the doc shows them; Allow matches a string identity by name.
func TestAuditSmallPromises(t *testing.T) {
	assert.Equal(t, "alice", auth.Identity{Name: "alice", Source: "token"}.String())

	tok := strings.Repeat("k", auth.MinTokenLen)
	tokens, err := auth.NewTokens(map[string]string{tok: "alice"})
	require.NoError(t, err)
	assert.NoError(t, tokens.Reload())
	id, err := tokens.Authenticate(t.Context(), ferry.AuthInfo{Token: tok})
	require.NoError(t, err)
	assert.Equal(t, auth.Identity{Name: "alice", Source: "token"}, id)
	_, err = auth.NewTokens(map[string]string{tok[1:]: "alice"})
	assert.Error(t, err, "shorter than MinTokenLen")
	_, err = auth.NewTokens(map[string]string{tok: ""})
	assert.Error(t, err, "empty name")

	var rules []auth.Rule
	require.NoError(t, json.Unmarshal([]byte(`[{"identity": "alice", "allow": ["Greeter.*"], "deny": ["Greeter.Reset"]},
		{"identity": "*", "allow": ["Health.Check"]}]`), &rules))
	p, err := auth.NewPolicy(rules...)
	require.NoError(t, err)
	assert.NoError(t, p.Allow("alice", "Greeter.Hello"))
	assert.NoError(t, p.Allow(auth.Identity{Name: "alice"}, "Greeter.Hello"))
	err = p.Allow("alice", "Greeter.Reset")
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
	assert.NoError(t, p.Allow(42, "Health.Check"), "any identity: only * rules")
	assert.Error(t, p.Allow(42, "Greeter.Hello"))
	_, err = auth.NewPolicy(auth.Rule{Identity: "", Allow: []string{"A.B"}})
	assert.Error(t, err, "empty identity")
}

// TestAuditTokenFileInPlaceEdit: LoadTokens reads the file again when its
// modification time changes, even with the same size and inode (an edit
// in place), at the next Authenticate, with no Reload.
func TestAuditTokenFileInPlaceEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens")
	require.NoError(t, os.WriteFile(path, []byte("alice "+tokAlice+"\n"), 0o600))
	tokens, err := auth.LoadTokens(path, nil)
	require.NoError(t, err)
	_, err = tokens.Authenticate(t.Context(), ferry.AuthInfo{Token: tokAlice})
	require.NoError(t, err)
	before, err := os.Stat(path)
	require.NoError(t, err)

	other := strings.Repeat("z", len(tokAlice))
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteAt([]byte("alice "+other+"\n"), 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	mtime := before.ModTime().Add(2 * time.Second)
	require.NoError(t, os.Chtimes(path, mtime, mtime))
	after, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, before.Size(), after.Size())
	require.True(t, os.SameFile(before, after), "same inode")

	_, err = tokens.Authenticate(t.Context(), ferry.AuthInfo{Token: tokAlice})
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "the edited-out token is refused at once")
	id, err := tokens.Authenticate(t.Context(), ferry.AuthInfo{Token: other})
	require.NoError(t, err)
	assert.Equal(t, auth.Identity{Name: "alice", Source: "token"}, id)
}

// TestAuditStreamPolicyOnTheClient: Policy.StreamInterceptor installed
// with client.WithStreamServerInterceptors refuses a stream the server
// opens to the client with permission_denied, NotExecuted, before the
// client's handler; with no client.WithServerAuth only "*" rules apply.
func TestAuditStreamPolicyOnTheClient(t *testing.T) {
	policy, err := auth.NewPolicy(auth.Rule{Identity: "*", Allow: []string{"Client.Open"}})
	require.NoError(t, err)
	s := server.New()
	opened := make(chan error, 2)
	require.NoError(t, server.Handle(s, "Svc.Poke", func(ctx context.Context, method *string) (*struct{}, error) {
		st, err := server.PeerFromContext(ctx).OpenStream(ctx, *method, ferry.ServerStreaming)
		if err == nil {
			if err = st.Send(&struct{}{}); err == nil {
				err = st.CloseSend()
			}
			if err == nil {
				var n int
				err = st.Recv(&n)
			}
			st.Close()
		}
		opened <- err
		return &struct{}{}, nil
	}))
	addr := ferrytest.Serve(t, s)
	c, err := client.Dial(t.Context(), addr, client.WithStreamServerInterceptors(policy.StreamInterceptor()))
	require.NoError(t, err)
	defer c.Close()
	var ran atomic.Int32
	for _, m := range []string{"Client.Open", "Client.Secret"} {
		require.NoError(t, client.HandleServerStream(c, m, func(_ context.Context, _ *struct{}, send func(*int) error) error {
			ran.Add(1)
			n := 1
			return send(&n)
		}))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, c.Call(ctx, "Svc.Poke", "Client.Open", nil))
	require.NoError(t, <-opened)
	require.NoError(t, c.Call(ctx, "Svc.Poke", "Client.Secret", nil))
	err = <-opened
	require.Error(t, err)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, int32(1), ran.Load(), "the denied stream's handler never ran")
	assert.Equal(t, uint64(1), policy.Denied())
}
