package pemfile_test

// Audit of the package doc: promises the other tests of this package do
// not check.

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditLoadNamesTheFile: Load's error names the file that is missing
// or invalid.
func TestAuditLoadNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	junk := filepath.Join(dir, "junk.pem")
	writeFile(t, junk, []byte("not PEM"))
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		o    pemfile.Options
		file string
	}{
		{pemfile.Options{CertFile: missing, KeyFile: keyFile}, missing},
		{pemfile.Options{CertFile: certFile, KeyFile: missing}, missing},
		{pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: missing}, missing},
		{pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: junk}, junk},
	} {
		_, err := pemfile.Load(tc.o)
		require.Error(t, err, "%+v", tc.o)
		assert.Contains(t, err.Error(), filepath.Base(tc.file), "%+v", tc.o)
	}
}

// TestAuditEstablishedConnectionsUntouched: after the server's CA file is
// rotated to a CA that no longer trusts the client, a connection made
// before keeps working while a new handshake is refused; Logger gets a
// line for the reload.
func TestAuditEstablishedConnectionsUntouched(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testcerts.NewCA("old CA"), testcerts.NewCA("new CA")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, oldCA.PEM())
	certFile, keyFile := writeCert(t, dir, "s", oldCA.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	var logs logBuffer
	sf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	require.NoError(t, err)
	scfg, err := sf.ServerConfig()
	require.NoError(t, err)
	s := server.New(server.WithTLS(scfg))
	require.NoError(t, server.Handle(s, "T.Ping", func(context.Context, *struct{}) (*bool, error) { return ptrTrue(), nil }))
	addr := serve(t, s)

	srvCAFile := filepath.Join(dir, "server-ca.crt")
	writeFile(t, srvCAFile, oldCA.PEM())
	ccert, ckey := writeCert(t, dir, "c", oldCA.Issue(testcerts.Options{CommonName: "c", Client: true}))
	cf, err := pemfile.Load(pemfile.Options{CertFile: ccert, KeyFile: ckey, CAFile: srvCAFile, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	ccfg, err := cf.ClientConfig()
	require.NoError(t, err)
	c, err := client.Dial(t.Context(), addr, client.WithTLS(ccfg))
	require.NoError(t, err)
	defer c.Close()
	var ok bool
	require.NoError(t, c.Call(t.Context(), "T.Ping", struct{}{}, &ok))

	before := logs.String()
	writeFile(t, caFile, newCA.PEM())
	require.NoError(t, sf.Reload())
	assert.NotEqual(t, before, logs.String(), "a line for the reload")

	_, err = client.Dial(t.Context(), addr, client.WithTLS(ccfg))
	require.Error(t, err, "a new handshake uses the new CA")
	require.NoError(t, c.Call(t.Context(), "T.Ping", struct{}{}, &ok), "the established connection is untouched")
	assert.True(t, ok)
}
