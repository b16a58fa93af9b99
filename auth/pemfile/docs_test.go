package pemfile_test

// Tests of what the package doc and the exported doc comments promise that
// the other tests do not cover.

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsReloadIntervalRange checks Options.ReloadInterval's "Default
// DefaultReloadInterval; range 10ms to 24h" and DefaultReloadInterval's
// 10 s, as the package doc's defaults.
func TestDocsReloadIntervalRange(t *testing.T) {
	assert.Equal(t, 10*time.Second, pemfile.DefaultReloadInterval)
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	for _, d := range []time.Duration{0, 10 * time.Millisecond, 24 * time.Hour} {
		_, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, ReloadInterval: d})
		assert.NoError(t, err, "%v", d)
	}
	for _, d := range []time.Duration{-time.Second, 10*time.Millisecond - 1, 24*time.Hour + 1} {
		_, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, ReloadInterval: d})
		if assert.Error(t, err, "%v", d) {
			assert.True(t, strings.HasPrefix(err.Error(), "ferry: pemfile: "), err.Error())
		}
	}
}

// TestDocsClientVerifiesNameAndRoots checks ClientConfig's "verifies the
// server's certificate chain against the current CA pool (or the system's
// roots without CAFile) and Options.ServerName", and Certificate's "nil
// without CertFile".
func TestDocsClientVerifiesNameAndRoots(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, ca.PEM())
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	sf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile})
	require.NoError(t, err)
	scfg, err := sf.ServerConfig()
	require.NoError(t, err)
	s := server.New(server.WithTLS(scfg))
	addr := serve(t, s)

	dial := func(o pemfile.Options) error {
		f, err := pemfile.Load(o)
		if err != nil {
			return err
		}
		assert.Nil(t, f.Certificate(), "no CertFile: no certificate")
		cfg, err := f.ClientConfig()
		require.NoError(t, err)
		c, err := client.Dial(t.Context(), addr, client.WithTLS(cfg))
		if c != nil {
			c.Close()
		}
		return err
	}
	require.NoError(t, dial(pemfile.Options{CAFile: caFile, ServerName: "127.0.0.1"}))
	err = dial(pemfile.Options{CAFile: caFile, ServerName: "127.0.0.2"})
	require.Error(t, err, "another name")
	assert.Contains(t, err.Error(), "127.0.0.2")

	// Without CAFile, the system's roots, which do not hold the test CA.
	f, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	assert.NotNil(t, f.Certificate())
	cfg, err := f.ClientConfig()
	require.NoError(t, err)
	_, err = client.Dial(t.Context(), addr, client.WithTLS(cfg))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown authority")
}

// logBuffer collects log lines, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDocsFailedChangeKeptLoggedRetried checks the package doc's "A change
// that does not load (... an expired certificate) keeps the last good
// snapshot, is logged, and is retried when the files change again",
// through a server config's handshakes (GetConfigForClient), which check
// the files at most once per ReloadInterval.
func TestDocsFailedChangeKeptLoggedRetried(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "first", IPs: localhost}))
	var logs logBuffer
	f, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, ReloadInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	scfg, err := f.ServerConfig()
	require.NoError(t, err)
	served := func() string {
		cfg, err := scfg.GetConfigForClient(&tls.ClientHelloInfo{})
		require.NoError(t, err)
		return cfg.Certificates[0].Leaf.Subject.CommonName
	}
	require.Equal(t, "first", served())

	writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "expired", IPs: localhost, Expired: true}))
	require.Eventually(t, func() bool {
		assert.Equal(t, "first", served(), "the last good certificate stays in use")
		return strings.Contains(logs.String(), "reload failed")
	}, 10*time.Second, time.Millisecond, "the failed reload is logged")
	assert.Contains(t, logs.String(), "is valid only from")
	assert.Equal(t, "first", f.Certificate().Leaf.Subject.CommonName)

	writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "second", IPs: localhost}))
	require.Eventually(t, func() bool { return served() == "second" }, 10*time.Second, time.Millisecond,
		"retried when the files change again")
	assert.Contains(t, logs.String(), "reloaded")
}

// TestDocsFileSizeCap checks Options' "Each file may be at most 1 MiB":
// a CA file padded (text before its PEM block, which PEM ignores) to
// exactly 1 MiB loads; one byte more is refused, for CAFile and CertFile
// alike.
func TestDocsFileSizeCap(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	padded := func(name string, pem []byte, size int) string {
		b := append([]byte(strings.Repeat("x", size-len(pem)-1)+"\n"), pem...)
		require.Len(t, b, size)
		path := filepath.Join(dir, name)
		writeFile(t, path, b)
		return path
	}
	_, err := pemfile.Load(pemfile.Options{CAFile: padded("ca-1m", ca.PEM(), 1<<20)})
	require.NoError(t, err, "exactly 1 MiB")
	_, err = pemfile.Load(pemfile.Options{CAFile: padded("ca-1m1", ca.PEM(), 1<<20+1)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than 1048576 bytes")
	certPEM, err := os.ReadFile(certFile)
	require.NoError(t, err)
	_, err = pemfile.Load(pemfile.Options{CertFile: padded("s-1m", certPEM, 1<<20), KeyFile: keyFile})
	require.NoError(t, err, "exactly 1 MiB")
	_, err = pemfile.Load(pemfile.Options{CertFile: padded("s-1m1", certPEM, 1<<20+1), KeyFile: keyFile})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "larger than 1048576 bytes")
}

// TestDocsClientWithoutCertificate checks "A server with a CAFile requires
// and verifies client certificates" from the client's side: a client
// config without CertFile (GetClientCertificate offers none: "the server
// decides") is refused by a server with a CAFile, over a real handshake
// and a first call, and a client with a certificate from that CA is
// served.
func TestDocsClientWithoutCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, ca.PEM())
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	sf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile})
	require.NoError(t, err)
	scfg, err := sf.ServerConfig()
	require.NoError(t, err)
	s := server.New(server.WithTLS(scfg))
	require.NoError(t, server.Handle(s, "T.Ping", func(context.Context, *struct{}) (*bool, error) { return ptrTrue(), nil }))
	addr := serve(t, s)

	call := func(o pemfile.Options) error {
		f, err := pemfile.Load(o)
		require.NoError(t, err)
		cfg, err := f.ClientConfig()
		require.NoError(t, err)
		c, err := client.Dial(t.Context(), addr, client.WithTLS(cfg))
		if err != nil {
			return err
		}
		defer c.Close()
		var ok bool
		return c.Call(t.Context(), "T.Ping", struct{}{}, &ok)
	}
	err = call(pemfile.Options{CAFile: caFile, ServerName: "127.0.0.1"})
	require.Error(t, err, "no client certificate")
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "certificate required")

	ccert, ckey := writeCert(t, dir, "c", ca.Issue(testcerts.Options{CommonName: "c", Client: true}))
	require.NoError(t, call(pemfile.Options{CertFile: ccert, KeyFile: ckey, CAFile: caFile, ServerName: "127.0.0.1"}))
}

func ptrTrue() *bool { b := true; return &b }

// serve serves s on a loopback port until the test ends and returns its
// address.
func serve(t *testing.T, s *server.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-served })
	return l.Addr().String()
}
