package main

import (
	"reflect"
	"testing"

	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCallChecksParams: against a server with introspection, params that
// do not fit are refused before sending, with the near miss suggested and
// invalid_argument's exit status; -nocheck sends them and the server
// refuses them the same way.
func TestCallChecksParams(t *testing.T) {
	addr := serve(t, newTestServer(t))
	for _, mode := range [][]string{nil, {"-plain"}} {
		for _, tc := range []struct {
			json string
			want []string
		}{
			{`{"a":3,"b":4}`, []string{
				`ferry: Arith.Add: unknown field "a" (did you mean "A"?)`,
				`ferry: Arith.Add: unknown field "b" (did you mean "B"?)`}},
			{`[3.5,4]`, []string{"ferry: Arith.Add: argument 1 (A): want an integer, got 3.5"}},
			{`[3,4,5]`, []string{"ferry: Arith.Add: takes at most 2 arguments (A, B), got 3"}},
			{`{"A":"3"}`, []string{`ferry: Arith.Add: field A: want an integer, got "3"`}},
			{`{"A":1,"BB":2}`, []string{`ferry: Arith.Add: unknown field "BB" (did you mean "B"?)`}},
			{`{"A":1,"Zebra":2}`, []string{`ferry: Arith.Add: unknown field "Zebra" (fields: A, B)`}},
		} {
			args := append(append([]string{"call"}, mode...), addr, "Arith.Add", tc.json)
			r := ferryCmd(t, args...)
			assert.Equal(t, 13, r.code, "%v: %s", args, r.stderr)
			for _, w := range tc.want {
				assert.Contains(t, r.stderr, w+"\n", "%v", args)
			}
			assert.Contains(t, r.stderr, "-nocheck sends them anyway")
			assert.Empty(t, r.stdout)
		}
	}

	r := ferryCmd(t, "call", "-nocheck", addr, "Arith.Add", `[3.5,4]`)
	assert.Equal(t, 13, r.code, r.stderr)
	assert.Equal(t, "ferry: invalid_argument: Arith.Add: argument 1 (A): want an integer, got 3.5\n", r.stderr)

	r = ferryCmd(t, "call", addr, "Arith.Add", `[4.0,3]`)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "7\n", r.stdout)
}

// TestCallWithoutIntrospectionSendsAsBefore: no description, no check;
// the server's own refusal comes back with the same exit status.
func TestCallWithoutIntrospectionSendsAsBefore(t *testing.T) {
	s := server.New()
	require.NoError(t, s.Register(Arith{}))
	addr := serve(t, s)
	for _, tc := range []struct{ json, want string }{
		{`[3.5,4]`, "ferry: invalid_argument: Arith.Add: argument 1 (A): want an integer, got 3.5\n"},
		{`[3,4,5]`, "ferry: invalid_argument: Arith.Add: takes at most 2 arguments (A, B), got 3\n"},
		{`{"a":3,"b":4}`, "ferry: invalid_argument: Arith.Add: no field named \"a\", \"b\" (fields: A, B)\n"},
	} {
		r := ferryCmd(t, "call", addr, "Arith.Add", tc.json)
		assert.Equal(t, 13, r.code, r.stderr)
		assert.Equal(t, tc.want, r.stderr)
	}
	r := ferryCmd(t, "call", addr, "Arith.Add", `[3,4]`)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "7\n", r.stdout)
}

type checkOpts struct {
	Limit uint8
	Ratio float32
	Tags  map[string]int16
}

type checkArgs struct {
	Name  string
	N     int64
	Opts  checkOpts
	IDs   []uint32
	F     float64
	Flag  bool
	Any   any
	Next  *checkArgs
	Bytes []byte
}

func TestCheckParams(t *testing.T) {
	g := introspect.NewGenerator()
	d := &introspect.Description{Name: "S.M", Args: g.SchemaOf(reflect.TypeFor[checkArgs]())}
	d.Defs = g.Defs()
	intDesc := &introspect.Description{Name: "S.I", Args: introspect.NewGenerator().SchemaOf(reflect.TypeFor[int8]())}
	untyped := &introspect.Description{Name: "S.U"}
	for _, tc := range []struct {
		d    *introspect.Description
		json string
		want []string
	}{
		{d, `["n", 1, {"Limit": 255, "Ratio": 0.5, "Tags": {"x": -32768}}, [0, 4294967295], 1e300, true, {"any": [1]}, null, "b"]`, nil},
		{d, `["n"]`, nil},
		{d, ``, nil},
		{d, `[]`, nil},
		{d, `{"Name": "n", "Next": {"N": 2}}`, nil},
		{d, `[1]`, []string{"argument 1 (Name): want a string, got 1"}},
		{d, `["n", 2.5]`, []string{"argument 2 (N): want an integer, got 2.5"}},
		{d, `["n", 9223372036854775808]`, []string{"argument 2 (N): want an integer from -9223372036854775808 to 9223372036854775807 (int64), got 9223372036854775808"}},
		{d, `{"Opts": {"Limit": 256}}`, []string{"field Opts.Limit: want an integer from 0 to 255 (uint8), got 256"}},
		{d, `{"Opts": {"Limt": 1}}`, []string{`field Opts: unknown field "Limt" (did you mean "Limit"?)`}},
		{d, `{"Opts": [1, 1e39]}`, []string{"field Opts.Ratio: want a number within float32's range, got 1e39"}},
		{d, `{"Opts": {"Tags": {"k": 40000}}}`, []string{`field Opts.Tags["k"]: want an integer from -32768 to 32767 (int16), got 40000`}},
		{d, `{"IDs": [1, -1]}`, []string{"field IDs[1]: want an integer from 0 to 4294967295 (uint32), got -1"}},
		{d, `{"F": 9007199254740993}`, []string{"field F: want a number that float64 holds exactly, got 9007199254740993"}},
		{d, `{"Flag": "yes"}`, []string{`field Flag: want a boolean, got "yes"`}},
		{d, `{"Next": {"Next": {"N": 0.5}}}`, []string{"field Next.Next.N: want an integer, got 0.5"}},
		{d, `{"Opts": "x"}`, []string{`field Opts: want a map or an array, got "x"`}},
		{d, `{"IDs": 3}`, []string{"field IDs: want an array, got 3"}},
		{d, `{"Opts": [1, 2, 3, 4]}`, []string{"field Opts: too many values: want at most 3 (Limit, Ratio, Tags), got 4"}},
		{intDesc, `300`, []string{"argument 1: want an integer from -128 to 127 (int8), got 300"}},
		{intDesc, `[-128]`, nil},
		{untyped, `[3.5, "x"]`, nil},
	} {
		assert.Equal(t, tc.want, checkParams(tc.json, tc.d), "%s %s", tc.d.Name, tc.json)
	}
}

func TestSuggest(t *testing.T) {
	fields := []string{"Name", "Limit", "ID"}
	assert.Equal(t, `did you mean "Name"?`, suggest("name", fields))
	assert.Equal(t, `did you mean "Limit"?`, suggest("limt", fields))
	assert.Equal(t, `did you mean "ID"?`, suggest("id", fields))
	assert.Equal(t, "fields: Name, Limit, ID", suggest("color", fields))
	assert.Equal(t, "the arguments have no fields", suggest("x", nil))
}
