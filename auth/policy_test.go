package auth_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPolicy(t *testing.T) {
	var rules []auth.Rule
	require.NoError(t, json.Unmarshal([]byte(`[
		{"identity": "alice", "allow": ["Greeter.*", "Admin.Stats"], "deny": ["Greeter.Reset"]},
		{"identity": "root", "allow": ["*"], "deny": ["admin.delete"]},
		{"identity": "*", "allow": ["Health.Check"], "deny": ["Danger.*"]}
	]`), &rules))
	p, err := auth.NewPolicy(rules...)
	require.NoError(t, err)
	alice := auth.Identity{Name: "alice", Source: "token"}
	cases := []struct {
		id     any
		method string
		ok     bool
	}{
		{alice, "Greeter.Hello", true},
		{alice, "Greeter.Reset", false},  // deny wins over Greeter.*
		{alice, "greeter.Hello", false},  // allow is exact
		{alice, "Admin.Stats", true},     // exact allow
		{alice, "Admin.Delete", false},   // not allowed: default deny
		{alice, "Health.Check", true},    // from "*"
		{alice, "Danger.Zone", false},    // denied to everyone
		{"alice", "Greeter.Hello", true}, // a string identity
		{&alice, "Greeter.Hello", true},
		{auth.Identity{Name: "bob"}, "Greeter.Hello", false},
		{nil, "Health.Check", true}, // no identity: only "*" rules
		{nil, "Greeter.Hello", false},
		{42, "Greeter.Hello", false},
		{"root", "Anything.At", true},
		{"root", "Admin.Delete", false}, // a deny rule ignores case
		{"root", "ADMIN.DELETE", false},
		{"root", "DANGER.Zone", false},
		{"root", "Greeter", true},
		{"", "Health.Check", true},
	}
	for _, c := range cases {
		err := p.Allow(c.id, c.method)
		if c.ok {
			assert.NoError(t, err, "%v %s", c.id, c.method)
			continue
		}
		require.Error(t, err, "%v %s", c.id, c.method)
		assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
		assert.True(t, ferry.NotExecuted(err))
	}
	denied := 0
	for _, c := range cases {
		if !c.ok {
			denied++
		}
	}
	assert.Equal(t, uint64(denied), p.Denied())
}

func TestPolicyDefaultDeny(t *testing.T) {
	p, err := auth.NewPolicy()
	require.NoError(t, err)
	assert.Error(t, p.Allow("alice", "Greeter.Hello"))
	assert.Error(t, p.Allow(nil, "Greeter.Hello"))
}

func TestPolicyRefusesBadPatterns(t *testing.T) {
	for _, pat := range []string{"", " Greeter.Hello", "Greeter.Hello ", "Greeter.\x00", "Greeter.Hel lo", "Greeter.*.x", "*.Hello",
		"Greeter*", ".*", ".Hello", "Greeter.", "$ferry.hello", "Gree*ter.Hello", "Greeter.Hello\u00a0"} {
		_, err := auth.NewPolicy(auth.Rule{Identity: "a", Allow: []string{pat}})
		assert.Error(t, err, "allow %q", pat)
		_, err = auth.NewPolicy(auth.Rule{Identity: "a", Deny: []string{pat}})
		assert.Error(t, err, "deny %q", pat)
	}
	_, err := auth.NewPolicy(auth.Rule{Allow: []string{"*"}})
	assert.ErrorContains(t, err, "empty identity")
}

func TestPolicyLogsOncePerIdentityAndMethod(t *testing.T) {
	p, err := auth.NewPolicy(auth.Rule{Identity: "alice", Allow: []string{"A.B"}})
	require.NoError(t, err)
	var logs bytes.Buffer
	p.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	for range 3 {
		assert.Error(t, p.Allow("alice", "A.C"))
		assert.Error(t, p.Allow("bob", "A.C"))
		assert.NoError(t, p.Allow("alice", "A.B"))
	}
	assert.Equal(t, 2, strings.Count(logs.String(), "denied"), logs.String())
	assert.Equal(t, uint64(6), p.Denied())
}
