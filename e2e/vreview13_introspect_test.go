package e2e_test

import (
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13DescribeArgsTakenOrRefused: Introspect.Describe's arguments
// ({"method": NAME} or NAME) follow PROTOCOL.md 2.1 like any method's:
// a number is no name, and an extra param or a map with no known key is
// refused with invalid_argument (a map with no "method" got not_found,
// `no method ""`).
func TestVreview13DescribeArgsTakenOrRefused(t *testing.T) {
	s := newServer(t)
	require.NoError(t, introspect.Register(s))
	c := dialTCP(t, s)
	ctx := t.Context()
	for _, args := range []any{
		client.Params{"Arith.Add"},
		client.Params{map[string]any{"method": "Arith.Add"}},
		introspect.DescribeArgs{Method: "Arith.Add"},
		client.Params{[]string{"Arith.Add"}}, // a struct as the array of its fields
	} {
		var d introspect.Description
		if assert.NoError(t, c.Call(ctx, introspect.DescribeMethod, args, &d), "%#v", args) {
			assert.Equal(t, "Arith.Add", d.Name)
		}
	}
	for _, args := range []any{
		client.Params{5},
		client.Params{true},
		client.Params{map[string]any{"method": 5}},
		client.Params{map[string]any{"nope": "Arith.Add"}},
		client.Params{"Arith.Add", "extra"},
	} {
		var d introspect.Description
		err := c.Call(ctx, introspect.DescribeMethod, args, &d)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%#v: %v (got %+v)", args, err, d)
	}
	err := c.Call(ctx, introspect.DescribeMethod, client.Params{map[string]any{"nope": "Arith.Add"}}, nil)
	assert.EqualError(t, err, `ferry: invalid_argument: Introspect.Describe: no field named "nope" (fields: method)`)
}
