package registry

import (
	"bytes"
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

type addArgs struct{ A, B int64 }

type nested struct {
	Name string
	Opts struct{ Limit uint8 }
	IDs  []int32
}

type base struct{ A, B int }

// withEmbedded goes through msgpack's reflection path (embedded field).
type withEmbedded struct {
	base
	C float32
}

// selfDecoding decodes itself: params map onto it as a whole.
type selfDecoding struct{ S string }

func (s *selfDecoding) DecodeMsgpack(d *vmsgpack.Decoder) error {
	var err error
	s.S, err = d.DecodeString()
	return err
}

type svc struct{}

func (svc) Add(args addArgs, reply *int64) error                          { return nil }
func (svc) AddPtr(ctx context.Context, args *addArgs, reply *int64) error { return nil }
func (svc) Int(n int8, reply *int64) error                                { return nil }
func (svc) Ints(n []int, reply *int64) error                              { return nil }
func (svc) Nested(n nested, reply *int64) error                           { return nil }
func (svc) Embedded(e withEmbedded, reply *int64) error                   { return nil }
func (svc) Self(s selfDecoding, reply *int64) error                       { return nil }
func (svc) None(_ struct{}, reply *int64) error                           { return nil }

func enc(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := vmsgpack.NewEncoder(&buf)
	e.SetSortMapKeys(true)
	require.NoError(t, e.Encode(v))
	return buf.Bytes()
}

func TestDecodeArgs(t *testing.T) {
	ms, err := Reflect("Svc", svc{})
	require.NoError(t, err)
	r := New()
	require.NoError(t, r.Add(ms...))
	cases := []struct {
		method string
		params any // encoded as the request's params
		strict bool
		want   any    // the decoded args (dereferenced), when err is ""
		err    string // the refusal's message
	}{
		// positional params onto struct fields; fewer allowed, more refused
		{method: "Svc.Add", params: []any{3, 4}, want: addArgs{3, 4}},
		{method: "Svc.Add", params: []any{3}, want: addArgs{A: 3}},
		{method: "Svc.Add", params: []any{}, want: addArgs{}},
		{method: "Svc.Add", params: []any{[]any{3, 4}}, want: addArgs{3, 4}},
		{method: "Svc.Add", params: []any{nil}, want: addArgs{}},
		{method: "Svc.Add", params: []any{3, 4, 5}, err: "Svc.Add: takes at most 2 arguments (A, B), got 3"},
		{method: "Svc.Add", params: []any{[]any{3, 4, 5}}, err: "Svc.Add: takes at most 2 arguments (A, B), got 3"},
		{method: "Svc.Add", params: []any{3.5, 4}, err: "Svc.Add: argument 1 (A): want an integer, got 3.5"},
		{method: "Svc.AddPtr", params: []any{3, "4"}, err: `Svc.AddPtr: argument 2 (B): want an integer, got "4"`},
		{method: "Svc.AddPtr", params: []any{4.0, -1}, want: addArgs{4, -1}},
		// a map: keys name fields; unknown keys skipped unless strict; none matching refused
		{method: "Svc.Add", params: []any{map[string]any{"A": 1, "B": 2}}, want: addArgs{1, 2}},
		{method: "Svc.Add", params: []any{map[string]any{"A": 1, "X": 2}}, want: addArgs{A: 1}},
		{method: "Svc.Add", params: []any{map[string]any{}}, want: addArgs{}},
		{method: "Svc.Add", params: []any{map[string]any{"A": 1, "X": 2}}, strict: true, err: `Svc.Add: unknown field "X" (fields: A, B)`},
		{method: "Svc.Add", params: []any{map[string]any{"a": 3, "b": 4}}, err: `Svc.Add: no field named "a", "b" (fields: A, B)`},
		{method: "Svc.Add", params: []any{map[string]any{"B": 1.5}}, err: "Svc.Add: field B: want an integer, got 1.5"},
		// a non-struct args value
		{method: "Svc.Int", params: []any{-128}, want: int8(-128)},
		{method: "Svc.Int", params: []any{128}, err: "Svc.Int: argument 1: want an integer from -128 to 127 (int8), got 128"},
		{method: "Svc.Int", params: []any{"x"}, err: `Svc.Int: argument 1: want an integer, got "x"`},
		{method: "Svc.Ints", params: []any{1, 2, 3}, want: []int{1, 2, 3}},
		{method: "Svc.Ints", params: []any{1, 2.5}, err: "Svc.Ints: element [1]: want an integer, got 2.5"},
		// nested paths
		{method: "Svc.Nested", params: []any{"n", map[string]any{"Limit": 300}}, err: "Svc.Nested: argument 2 (Opts.Limit): want an integer from 0 to 255 (uint8), got 300"},
		{method: "Svc.Nested", params: []any{map[string]any{"IDs": []any{1, -1.5}}}, err: "Svc.Nested: field IDs[1]: want an integer, got -1.5"},
		{method: "Svc.Nested", params: []any{map[string]any{"Opts": map[string]any{"x": 1}}}, want: nested{}},
		{method: "Svc.Nested", params: []any{"only the name"}, want: nested{Name: "only the name"}},
		// msgpack's reflection path keeps the same rules
		{method: "Svc.Embedded", params: []any{1, 2, 0.5}, want: withEmbedded{base{1, 2}, 0.5}},
		{method: "Svc.Embedded", params: []any{1}, want: withEmbedded{base: base{A: 1}}},
		{method: "Svc.Embedded", params: []any{1, 2.5}, err: "Svc.Embedded: argument 2 (B): want an integer, got 2.5"},
		{method: "Svc.Embedded", params: []any{1, 2, 3, 4}, err: "Svc.Embedded: takes at most 3 arguments (A, B, C), got 4"},
		{method: "Svc.Embedded", params: []any{map[string]any{"C": 1e300}}, err: "Svc.Embedded: field C: want a number within float32's range, got 1e+300"},
		{method: "Svc.Embedded", params: []any{map[string]any{"c": 1}}, err: `Svc.Embedded: no field named "c" (fields: A, B, C)`},
		// a type that decodes itself gets [x] whole
		{method: "Svc.Self", params: []any{"s"}, want: selfDecoding{S: "s"}},
		{method: "Svc.Self", params: []any{1}, err: "Svc.Self: cannot decode the arguments: invalid code=1 decoding string/bytes length"},
		{method: "Svc.None", params: []any{}, want: struct{}{}},
		{method: "Svc.None", params: []any{1}, err: "Svc.None: takes no arguments, got 1"},
	}
	dec := msgpack.NewDecoder()
	for _, c := range cases {
		m := r.Lookup([]byte(c.method))
		require.NotNil(t, m, c.method)
		args, ferr := m.DecodeArgs(dec, enc(t, c.params), c.strict)
		if c.err != "" {
			require.NotNil(t, ferr, "%s %v", c.method, c.params)
			assert.Equal(t, ferry.CodeInvalidArgument, ferr.Code)
			assert.Equal(t, c.err, ferr.Message, "%s %v", c.method, c.params)
			continue
		}
		require.Nil(t, ferr, "%s %v", c.method, c.params)
		var got any
		if c.method != "Svc.AddPtr" {
			got = derefAny(args)
		} else {
			got = *(args.(*addArgs))
		}
		assert.Equal(t, c.want, got, "%s %v", c.method, c.params)
	}
}

func derefAny(v any) any {
	switch p := v.(type) {
	case *addArgs:
		return *p
	case *int8:
		return *p
	case *[]int:
		return *p
	case *nested:
		return *p
	case *withEmbedded:
		return *p
	case *selfDecoding:
		return *p
	case *struct{}:
		return *p
	}
	return v
}

// TestDecodeArgsTyped: methods from Typed follow the same rules, and a
// strict decode leaves the shared decoder lenient for the next call.
func TestDecodeArgsTyped(t *testing.T) {
	m := Typed("T.Add", func(ctx context.Context, a *addArgs) (*int64, error) { return nil, nil })
	require.NoError(t, New().Add(m))
	dec := msgpack.NewDecoder()
	_, ferr := m.DecodeArgs(dec, enc(t, []any{map[string]any{"A": 1, "Z": 1}}), true)
	require.NotNil(t, ferr)
	assert.Equal(t, `T.Add: unknown field "Z" (fields: A, B)`, ferr.Message)
	args, ferr := m.DecodeArgs(dec, enc(t, []any{map[string]any{"A": 1, "Z": 1}}), false)
	require.Nil(t, ferr)
	assert.Equal(t, &addArgs{A: 1}, args)
}
