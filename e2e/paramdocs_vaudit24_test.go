package e2e_test

import (
	"context"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type v24Args struct {
	A, B int
	In   struct{ X int }
}

type v24Svc struct{}

// Struct echoes its args.
func (v24Svc) Struct(ctx context.Context, a v24Args, r *v24Args) error { *r = a; return nil }

// Slice echoes its args.
func (v24Svc) Slice(ctx context.Context, a []int, r *[]int) error { *r = a; return nil }

// Ptr echoes its args, taken by pointer.
func (v24Svc) Ptr(ctx context.Context, a *v24Args, r *v24Args) error {
	if a != nil {
		*r = *a
	}
	return nil
}

// TestVaudit24ParamsMapping: the server package doc's mapping of
// positional params onto a method's args, and its refusals.
func TestVaudit24ParamsMapping(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.RegisterName("V24Svc", v24Svc{}))
	strict := newServer(t, server.WithDisallowUnknownFields())
	require.NoError(t, strict.RegisterName("V24Svc", v24Svc{}))
	c := dialTCP(t, s)
	cs := dialTCP(t, strict)
	ctx := t.Context()

	ok := []struct {
		name   string
		method string
		params any
		want   any
	}{
		{"[] leaves the zero value", "V24Svc.Struct", client.Params{}, v24Args{}},
		{"[x]: x is the first field", "V24Svc.Struct", client.Params{5}, v24Args{A: 5}},
		{"[nil]", "V24Svc.Struct", client.Params{nil}, v24Args{}},
		{"[array] into the struct", "V24Svc.Struct", client.Params{[]int{1, 2}}, v24Args{A: 1, B: 2}},
		{"[map]", "V24Svc.Struct", client.Params{map[string]int{"B": 2}}, v24Args{B: 2}},
		{"[a, b]", "V24Svc.Struct", client.Params{1, 2}, v24Args{A: 1, B: 2}},
		{"fewer params than fields", "V24Svc.Struct", client.Params{1}, v24Args{A: 1}},
		{"Go's args value", "V24Svc.Struct", &v24Args{A: 3, B: 4}, v24Args{A: 3, B: 4}},
		{"[a, b, c] into a slice", "V24Svc.Slice", client.Params{1, 2, 3}, []int{1, 2, 3}},
		{"[array] into a slice", "V24Svc.Slice", client.Params{[]int{1, 2}}, []int{1, 2}},
		{"a pointer arg", "V24Svc.Ptr", client.Params{1, 2}, v24Args{A: 1, B: 2}},
		{"4.0 fits an int", "V24Svc.Struct", client.Params{4.0}, v24Args{A: 4}},
	}
	for _, tc := range ok {
		switch want := tc.want.(type) {
		case v24Args:
			var got v24Args
			require.NoError(t, c.Call(ctx, tc.method, tc.params, &got), tc.name)
			assert.Equal(t, want, got, tc.name)
		case []int:
			var got []int
			require.NoError(t, c.Call(ctx, tc.method, tc.params, &got), tc.name)
			assert.Equal(t, want, got, tc.name)
		}
	}

	refused := []struct {
		name   string
		c      *client.Client
		method string
		params any
	}{
		{"more params than fields", c, "V24Svc.Struct", client.Params{1, 2, 3, 4}},
		{"3.5 into an int", c, "V24Svc.Struct", client.Params{3.5, 4}},
		{"3.5 into a slice of ints", c, "V24Svc.Slice", client.Params{3, 3.5}},
		{"3.5 nested", c, "V24Svc.Struct", client.Params{map[string]any{"In": map[string]any{"X": 3.5}}}},
		{"a string into an int", c, "V24Svc.Struct", client.Params{"3"}},
		{"a map naming no field", c, "V24Svc.Struct", client.Params{map[string]int{"Q": 1}}},
		{"an unknown key, strict", cs, "V24Svc.Struct", client.Params{map[string]int{"A": 1, "Q": 1}}},
		{"an unknown nested key, strict", cs, "V24Svc.Struct", client.Params{map[string]any{"In": map[string]int{"X": 1, "Q": 1}}}},
	}
	for _, tc := range refused {
		err := tc.c.Call(ctx, tc.method, tc.params, nil)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", tc.name, err)
	}
	var got v24Args
	require.NoError(t, c.Call(ctx, "V24Svc.Struct", client.Params{map[string]int{"A": 1, "Q": 1}}, &got), "an unknown key beside a known one")
	assert.Equal(t, v24Args{A: 1}, got)
}

// TestVaudit24CallMessageLimits: a request past the server's limit is
// not sent (resource_exhausted, not executed); a reply past the client's
// is replaced by resource_exhausted (the handler ran); the connection
// goes on; a reply map that names no field of the reply's struct is not
// refused.
func TestVaudit24CallMessageLimits(t *testing.T) {
	small := transport.DefaultConfig()
	small.MaxMessageSize = 16 << 10
	s := newServer(t, server.WithConfig(small))
	require.NoError(t, server.Handle(s, "B.Big", func(ctx context.Context, n *int) (*string, error) {
		out := strings.Repeat("x", *n)
		return &out, nil
	}))
	require.NoError(t, server.Handle(s, "B.Map", func(ctx context.Context, _ *struct{}) (*map[string]int, error) {
		return &map[string]int{"Q": 1}, nil
	}))
	c := dialTCP(t, s, client.WithConfig(small))
	big := dialTCP(t, s)
	err := big.Call(t.Context(), "Echo.Echo", strings.Repeat("x", 20<<10), nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	require.NoError(t, big.Call(t.Context(), "Echo.Echo", 1, nil))

	err = c.Call(t.Context(), "B.Big", 20<<10, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err), "%v", err)
	require.NoError(t, c.Call(t.Context(), "Echo.Echo", 1, nil))

	var r v24Args
	require.NoError(t, c.Call(t.Context(), "B.Map", nil, &r))
	assert.Equal(t, v24Args{}, r)
}
