package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInsecureOnlyOnLoopbackUnlessToldTwice(t *testing.T) {
	for _, host := range []string{"localhost", "LOCALHOST", "127.0.0.1", "127.9.9.9", "::1"} {
		assert.True(t, isLoopback(host), host)
	}
	for _, host := range []string{"192.0.2.1", "10.0.0.1", "example.com", "localhost.example.com", "0.0.0.0", ""} {
		assert.False(t, isLoopback(host), host)
	}
	// Refused before any connection is made (192.0.2.1 is a documentation
	// address: nothing answers there).
	r := ferryCmd(t, "call", "-insecure", "192.0.2.1:7000", "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "-yes-really")
	cf := connFlags{insecure: true, yesReally: true}
	cfg, err := cf.tlsConfig("192.0.2.1:7000")
	require.NoError(t, err, "told twice")
	assert.True(t, cfg.InsecureSkipVerify)
}

func TestCallWithTokenFile(t *testing.T) {
	const token = "cli-token-0123456789abcdef"
	tokens, err := auth.NewTokens(map[string]string{token: "cli"})
	require.NoError(t, err)
	s := server.New(server.WithAuth(tokens.Authenticate))
	require.NoError(t, s.Register(Arith{}))
	addr := serve(t, s)
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(token+"\n"), 0o600))
	r := ferryCmd(t, "call", "-token-file", path, addr, "Arith.Add", "[1,2]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "3\n", r.stdout)

	r = ferryCmd(t, "call", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "unauthenticated")
	assert.NotContains(t, r.stderr, "-plain", "no misleading hint")
}

// TestTokenFileOnlyOnLoopbackUnlessToldTwice: -token-file without TLS is
// refused before any connection is made on an address that is not
// loopback (192.0.2.1 is a documentation address: nothing answers
// there), and works on loopback.
func TestTokenFileOnlyOnLoopbackUnlessToldTwice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("never-sent-token-0123456789\n"), 0o600))
	r := ferryCmd(t, "call", "-token-file", path, "192.0.2.1:7000", "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "plain text")
	assert.Contains(t, r.stderr, "-yes-really")
	assert.NotContains(t, r.stderr, "never-sent-token")
	cf := connFlags{tokenFile: path}
	_, err := cf.dialConn(t.Context(), "192.0.2.1:7000")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "-tls")
}
