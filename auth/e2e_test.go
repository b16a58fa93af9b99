package auth_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// secureEnv is a server with mutual TLS (pemfile), tokens from a file and
// a policy, over loopback TCP, and what clients need to reach it.
type secureEnv struct {
	dir, addr  string
	ca         *testcerts.CA
	tokensPath string
	runs       atomic.Int64 // handlers that ran
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", b, 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
}

// writeCert writes c's chain and key as name.crt and name.key in dir.
func writeCert(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := testcerts.PEM(c)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	return certFile, keyFile
}

func spiffe(t *testing.T, s string) []*url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return []*url.URL{u}
}

func newSecureEnv(t *testing.T) *secureEnv {
	e := &secureEnv{dir: t.TempDir(), ca: testcerts.NewCA("test CA")}
	writeFile(t, filepath.Join(e.dir, "ca.crt"), e.ca.PEM())
	certFile, keyFile := writeCert(t, e.dir, "server", e.ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}))
	files, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: filepath.Join(e.dir, "ca.crt")})
	require.NoError(t, err)
	tcfg, err := files.ServerConfig()
	require.NoError(t, err)

	e.tokensPath = filepath.Join(e.dir, "tokens")
	writeFile(t, e.tokensPath, []byte("alice "+tokAlice+"\nbob "+tokBob+"\n"))
	tokens, err := auth.LoadTokens(e.tokensPath, nil)
	require.NoError(t, err)
	policy, err := auth.NewPolicy(
		auth.Rule{Identity: "alice", Allow: []string{"Svc.*"}, Deny: []string{"Svc.Admin"}},
		auth.Rule{Identity: "bob", Allow: []string{"Svc.Echo"}},
	)
	require.NoError(t, err)
	s := server.New(
		server.WithTLS(tcfg),
		server.WithAuth(auth.All(auth.Certificates("spiffe://test/*"), tokens.Authenticate)),
		server.WithInterceptors(policy.Interceptor()),
	)
	for _, m := range []string{"Svc.Echo", "Svc.Admin", "Other.Thing"} {
		require.NoError(t, server.Handle(s, m, func(ctx context.Context, in *string) (*string, error) {
			e.runs.Add(1)
			who := ferry.IdentityFromContext(ctx).(auth.Identity).Name
			return &who, nil
		}))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	e.addr = l.Addr().String()
	return e
}

// clientTLS returns a pemfile client config presenting c and trusting
// trust.
func (e *secureEnv) clientTLS(t *testing.T, name string, c tls.Certificate, trust *testcerts.CA) *tls.Config {
	certFile, keyFile := writeCert(t, e.dir, name, c)
	caFile := filepath.Join(e.dir, name+"-ca.crt")
	writeFile(t, caFile, trust.PEM())
	files, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	cfg, err := files.ClientConfig()
	require.NoError(t, err)
	return cfg
}

func TestSecureServerEndToEnd(t *testing.T) {
	e := newSecureEnv(t)
	good := e.ca.Issue(testcerts.Options{CommonName: "alice", URIs: spiffe(t, "spiffe://test/alice"), Client: true})
	goodTLS := e.clientTLS(t, "good", good, e.ca)

	c, err := client.Dial(t.Context(), e.addr, client.WithTLS(goodTLS), client.WithToken(tokAlice))
	require.NoError(t, err)
	var who string
	require.NoError(t, c.Call(t.Context(), "Svc.Echo", "hi", &who))
	assert.Equal(t, "alice", who)
	require.Equal(t, int64(1), e.runs.Load())

	// Calls refused by the policy or as unknown names: not executed.
	refused := map[string]ferry.Code{
		"Svc.Admin":   ferry.CodePermissionDenied, // denied by name
		"Other.Thing": ferry.CodePermissionDenied, // never allowed
	}
	for _, m := range []string{"svc.admin", "SVC.ADMIN", "Svc.admin", "Svc.Admin\x00", "\x00Svc.Admin", "Svc.Admin ", " Svc.Admin",
		"\tSvc.Admin", "Svc.Admin\n", ".Admin", "Admin", "Svc..Admin", "Svc/Admin", "Svc::Admin", "/Svc.Admin", "Svc.Admin/", "Svc\x00.Admin",
		"Svc.Adm\u0131n", "Svc.Admin\u200b", "Svc.\uff21dmin", "$Svc.Admin", "*", "Svc.*", ""} {
		refused[m] = ferry.CodeUnimplemented
	}
	for m, code := range refused {
		err := c.Call(t.Context(), m, "hi", &who)
		require.Error(t, err, "%q", m)
		assert.Equal(t, code, ferry.CodeOf(err), "%q: %v", m, err)
		assert.True(t, ferry.NotExecuted(err), "%q: %v", m, err)
	}
	assert.Equal(t, int64(1), e.runs.Load(), "no refused call ran a handler")
	c.Close()

	// Connections refused at authentication.
	other := testcerts.NewCA("another CA")
	cases := map[string][]client.Option{
		"client certificate from another CA":  {client.WithTLS(e.clientTLS(t, "otherca", other.Issue(testcerts.Options{CommonName: "alice", URIs: spiffe(t, "spiffe://test/alice"), Client: true}), e.ca)), client.WithToken(tokAlice)},
		"expired client certificate":          {client.WithTLS(expiredTLS(t, e)), client.WithToken(tokAlice)},
		"client certificate with a wrong SAN": {client.WithTLS(e.clientTLS(t, "wrongsan", e.ca.Issue(testcerts.Options{CommonName: "alice", URIs: spiffe(t, "spiffe://evil/alice"), Client: true}), e.ca)), client.WithToken(tokAlice)},
		"no client certificate":               {client.WithTLS(&tls.Config{RootCAs: e.ca.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}), client.WithToken(tokAlice)},
		"server from an untrusted CA":         {client.WithTLS(e.clientTLS(t, "trustother", good, other)), client.WithToken(tokAlice)},
		"unknown token":                       {client.WithTLS(goodTLS), client.WithToken("not-a-valid-token-at-all")},
		"no token":                            {client.WithTLS(goodTLS)},
		"plaintext":                           {client.WithToken(tokAlice)},
	}
	for name, opts := range cases {
		c, err := client.Dial(t.Context(), e.addr, opts...)
		if c != nil {
			c.Close()
		}
		require.Error(t, err, name)
		want := ferry.CodeUnauthenticated
		if name == "plaintext" {
			want = ferry.CodeUnavailable // the TLS port closes a plaintext connection
		}
		assert.Equal(t, want, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
		assert.NotContains(t, err.Error(), tokAlice, name)
	}

	// Revoking bob's token: his next connection is refused, no restart.
	c, err = client.Dial(t.Context(), e.addr, client.WithTLS(goodTLS), client.WithToken(tokBob))
	require.NoError(t, err)
	c.Close()
	writeFile(t, e.tokensPath, []byte("alice "+tokAlice+"\n"))
	_, err = client.Dial(t.Context(), e.addr, client.WithTLS(goodTLS), client.WithToken(tokBob))
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, int64(1), e.runs.Load(), "no handler ran for a refused connection")
}

// expiredTLS is a client config with an expired certificate from the
// right CA (pemfile refuses to load one, so it is built by hand).
func expiredTLS(t *testing.T, e *secureEnv) *tls.Config {
	c := e.ca.Issue(testcerts.Options{CommonName: "alice", URIs: spiffe(t, "spiffe://test/alice"), Client: true, Expired: true})
	return &tls.Config{Certificates: []tls.Certificate{c}, RootCAs: e.ca.Pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Peer mode: the calls a server makes to a client go through the
// client's own policy. The server has no identity on the client's side,
// so "*" rules decide.
func TestPolicyOnTheClientInPeerMode(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	s := server.New(server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	defer func() {
		s.Close()
		<-done
	}()
	policy, err := auth.NewPolicy(auth.Rule{Identity: "*", Allow: []string{"Client.*"}, Deny: []string{"Client.Wipe"}})
	require.NoError(t, err)
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithServerInterceptors(policy.Interceptor()))
	require.NoError(t, err)
	defer c.Close()
	var runs atomic.Int64
	for _, m := range []string{"Client.Push", "Client.Wipe", "Other.Thing"} {
		require.NoError(t, client.Handle(c, m, func(ctx context.Context, in *string) (*string, error) {
			runs.Add(1)
			return in, nil
		}))
	}
	p := <-peers
	var out string
	require.NoError(t, p.Call(t.Context(), "Client.Push", "hi", &out))
	assert.Equal(t, "hi", out)
	for _, m := range []string{"Client.Wipe", "Other.Thing"} {
		err := p.Call(t.Context(), m, "hi", &out)
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%s: %v", m, err)
		assert.True(t, ferry.NotExecuted(err))
	}
	err = p.Call(t.Context(), "client.wipe", "hi", &out)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, int64(1), runs.Load())
	assert.Equal(t, uint64(2), policy.Denied())
}

// A client checks the server's certificate identity (WithServerAuth) and
// its policy names the server: the server may call Client.Push, nothing
// else; a client that expects another server refuses to connect.
func TestClientAuthenticatesTheServer(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("test CA")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, ca.PEM())
	certFile, keyFile := writeCert(t, dir, "server", ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, URIs: spiffe(t, "spiffe://test/server")}))
	sf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile})
	require.NoError(t, err)
	scfg, err := sf.ServerConfig()
	require.NoError(t, err)
	peers := make(chan *server.Peer, 1)
	s := server.New(server.WithTLS(scfg), server.WithAuth(auth.Certificates()), server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	defer func() {
		s.Close()
		<-done
	}()
	ccert, ckey := writeCert(t, dir, "client", ca.Issue(testcerts.Options{CommonName: "client", URIs: spiffe(t, "spiffe://test/client"), Client: true}))
	cf, err := pemfile.Load(pemfile.Options{CertFile: ccert, KeyFile: ckey, CAFile: caFile, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	ccfg, err := cf.ClientConfig()
	require.NoError(t, err)

	_, err = client.Dial(t.Context(), l.Addr().String(), client.WithTLS(ccfg), client.WithServerAuth(cf.ServerAuth("spiffe://test/other")))
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))

	policy, err := auth.NewPolicy(auth.Rule{Identity: "spiffe://test/server", Allow: []string{"Client.Push"}})
	require.NoError(t, err)
	c, err := client.Dial(t.Context(), l.Addr().String(), client.WithTLS(ccfg),
		client.WithServerAuth(cf.ServerAuth("spiffe://test/*")), client.WithServerInterceptors(policy.Interceptor()))
	require.NoError(t, err)
	defer c.Close()
	var caller atomic.Value
	for _, m := range []string{"Client.Push", "Client.Wipe"} {
		require.NoError(t, client.Handle(c, m, func(ctx context.Context, in *string) (*string, error) {
			caller.Store(ferry.IdentityFromContext(ctx))
			return in, nil
		}))
	}
	p := <-peers
	assert.Equal(t, auth.Identity{Name: "spiffe://test/client", Source: "certificate"}, p.Identity())
	var out string
	require.NoError(t, p.Call(t.Context(), "Client.Push", "hi", &out))
	assert.Equal(t, auth.Identity{Name: "spiffe://test/server", Source: "certificate"}, caller.Load())
	err = p.Call(t.Context(), "Client.Wipe", "hi", &out)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, uint64(1), policy.Denied())

	// Without pemfile's re-verification, Go left VerifiedChains empty:
	// auth.Certificates alone refuses (fails closed).
	_, err = client.Dial(t.Context(), l.Addr().String(), client.WithTLS(ccfg), client.WithServerAuth(auth.Certificates()))
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
}
