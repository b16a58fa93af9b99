package auth_test

import (
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit25PatternWhiteSpace checks NewPolicy's "a pattern that ...
// holds white space or a control character ... is an error", for Unicode
// white space and C1 control characters too.
func TestVaudit25PatternWhiteSpace(t *testing.T) {
	for _, pat := range []string{
		"Admin. Delete", "Admin.\tDelete", "Admin.\x00", "Admin.\u0085x",
		"Admin.\u00a0x", "Admin.\u2003x", "Admin.\u3000x", "Admin.\u2028x",
		"Admin.\u0080x", "Admin.\u009fx", "\u1680Admin.*",
	} {
		_, err := auth.NewPolicy(auth.Rule{Identity: "a", Allow: []string{pat}})
		assert.Error(t, err, "allow %q", pat)
		_, err = auth.NewPolicy(auth.Rule{Identity: "a", Deny: []string{pat}})
		assert.Error(t, err, "deny %q", pat)
	}
	for _, pat := range []string{"Admin.Delete", "Admin.*", "*", "Ädmin.Löschen", "a.b.*"} {
		_, err := auth.NewPolicy(auth.Rule{Identity: "a", Allow: []string{pat}})
		assert.NoError(t, err, "%q", pat)
	}
	for _, pat := range []string{"", "$ping", "Admin*", "*.Delete", "Ad*min.X", "*.*", ".*"} {
		_, err := auth.NewPolicy(auth.Rule{Identity: "a", Allow: []string{pat}})
		assert.Error(t, err, "%q", pat)
	}
	_, err := auth.NewPolicy(auth.Rule{Allow: []string{"*"}})
	assert.Error(t, err, "an empty identity")
}

// TestVaudit25DenyFoldsUnicodeCase checks Policy's "deny patterns ignore
// ASCII and Unicode case" for service patterns whose case variant has
// another length in bytes: the Kelvin sign K (3 bytes) folds to k (1),
// the long s ſ (2 bytes) to s (1).
func TestVaudit25DenyFoldsUnicodeCase(t *testing.T) {
	p, err := auth.NewPolicy(auth.Rule{
		Identity: "*",
		Allow:    []string{"*"},
		Deny:     []string{"Kb.*", "Adminſ.*", "Ok.Purge", "kelvin.*"},
	})
	require.NoError(t, err)
	for _, m := range []string{
		"Kb.Purge", "kb.Purge", "\u212Ab.Purge", // service pattern, same and other length
		"Admins.Delete", "ADMINS.Delete", "AdminS.Delete", // ſ folds to s and S
		"Ok.Purge", "O\u212A.Purge", // exact pattern
		"\u212Aelvin.X",
	} {
		err := p.Allow("anyone", m)
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "%q", m)
	}
	for _, m := range []string{"Kb", "Kb.", "Kbx.Purge", "Admin.Delete", "X.Kb.Purge"} {
		assert.NoError(t, p.Allow("anyone", m), "%q", m)
	}
}

// TestVaudit25AllowIdentities checks Allow's identities: an Identity,
// a string and a fmt.Stringer match by name; nil and other values only
// "*" rules; allow patterns are exact in case; every denial is counted.
func TestVaudit25AllowIdentities(t *testing.T) {
	p, err := auth.NewPolicy(
		auth.Rule{Identity: "alice", Allow: []string{"Greeter.*"}, Deny: []string{"Greeter.Reset"}},
		auth.Rule{Identity: "*", Allow: []string{"Health.Check"}},
	)
	require.NoError(t, err)
	for _, id := range []any{"alice", auth.Identity{Name: "alice", Source: "token"}, &auth.Identity{Name: "alice"}} {
		assert.NoError(t, p.Allow(id, "Greeter.Hello"), "%#v", id)
		assert.NoError(t, p.Allow(id, "Health.Check"), "%#v", id)
		assert.Error(t, p.Allow(id, "Greeter.Reset"), "%#v", id)
		assert.Error(t, p.Allow(id, "greeter.Hello"), "allow is exact in case")
	}
	for _, id := range []any{nil, 42, "bob"} {
		assert.NoError(t, p.Allow(id, "Health.Check"), "%#v", id)
		err := p.Allow(id, "Greeter.Hello")
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
		assert.True(t, ferry.NotExecuted(err))
	}
	assert.Equal(t, uint64(9), p.Denied())
	assert.Equal(t, "alice", auth.Identity{Name: "alice", Source: "token"}.String())
}
