package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The example runs its clients and checks their outcomes itself;
// this also checks what it prints.
func TestSecureExample(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, false, "127.0.0.1:0", t.TempDir()), out.String())
	s := out.String()
	t.Log(s)
	for _, want := range []string{
		`alice (right certificate, valid token) calls Greeter.Hello: ok "hello world, from spiffe://example.org/alice"`,
		"mallory (certificate from another CA, alice's stolen token) calls Greeter.Hello: refused: unauthenticated, not executed",
		`bob (valid token) calls Greeter.Hello: ok "hello world, from spiffe://example.org/bob"`,
		"bob (revoked token) calls Greeter.Hello: refused: unauthenticated, not executed",
		"alice calls Admin.Reset (her policy does not allow it): refused: permission_denied, not executed",
		"bob (his own certificate, alice's stolen token) calls Greeter.Hello: refused: unauthenticated, not executed",
		"server: handlers run: 2 (Admin.Reset: 0); calls denied on /debug/ferry: 1",
	} {
		assert.Contains(t, s, want)
	}
}
