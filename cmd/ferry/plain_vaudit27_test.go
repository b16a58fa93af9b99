package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit27PlainSendsNoToken: -token-file sends the token to a server
// that authenticates connections, but plain MessagePack-RPC (-plain, or
// the fall-back) sends no hello and so no token: call says so, as it does
// for -H, instead of leaving the server's "not authenticated" unexplained.
func TestVaudit27PlainSendsNoToken(t *testing.T) {
	addr := serve(t, newTestServer(t))
	tok := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tok, []byte("a-token-of-16-bytes-at-least\n"), 0o600))
	r := ferryCmd(t, "call", "-plain", "-token-file", tok, addr, "Arith.Add", "[3,4]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "7\n", r.stdout)
	assert.Contains(t, r.stderr, "plain MessagePack-RPC sends no token; -token-file ignored")
	r = ferryCmd(t, "call", "-token-file", tok, addr, "Arith.Add", "[3,4]")
	assert.NotContains(t, r.stderr, "-token-file ignored", "a session sends it")
}
