package main

import (
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit23TLSOverUnixSocket: ADDR may be "unix:PATH or an absolute
// PATH", and -tls verifies the server "for the name in ADDR or
// -servername". Over a unix socket every TLS flag failed with "address
// PATH: missing port in address", -servername given or not: the path was
// split as host:port. Now -servername names the server there, its absence
// is an error that says to give it, and -insecure is allowed, as
// -token-file is, since a unix socket does not leave the machine.
func TestVaudit23TLSOverUnixSocket(t *testing.T) {
	ca := testcerts.NewCA("unix CA")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM(), 0o600))
	path := filepath.Join(dir, "ferry.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	s := server.New(server.WithTLS(&tls.Config{
		Certificates: []tls.Certificate{ca.Issue(testcerts.Options{CommonName: "server", DNSNames: []string{"ferry.internal"}})},
		MinVersion:   tls.VersionTLS12,
	}))
	require.NoError(t, s.Register(Arith{}))
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() { s.Close(); <-served }()

	for _, addr := range []string{"unix:" + path, path} {
		r := ferryCmd(t, "call", "-cacert", caFile, "-servername", "ferry.internal", addr, "Arith.Add", "[3,4]")
		require.Equal(t, exitOK, r.code, "%s: %s", addr, r.stderr)
		assert.Equal(t, "7\n", r.stdout)

		r = ferryCmd(t, "call", "-insecure", addr, "Arith.Add", "[3,4]")
		require.Equal(t, exitOK, r.code, "%s: %s", addr, r.stderr)
		assert.Equal(t, "7\n", r.stdout)

		r = ferryCmd(t, "call", "-cacert", caFile, addr, "Arith.Add", "[3,4]")
		assert.Equal(t, exitFail, r.code, addr)
		assert.Contains(t, r.stderr, "-servername", addr)
		assert.NotContains(t, r.stderr, "missing port", addr)

		r = ferryCmd(t, "call", "-cacert", caFile, "-servername", "other.internal", addr, "Arith.Add", "[3,4]")
		assert.Equal(t, exitFail, r.code, addr)
		assert.Contains(t, r.stderr, "other.internal", "the certificate is checked against -servername")
	}
}
