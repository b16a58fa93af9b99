package introspect_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Inner struct {
	X int32 `msgpack:"x"`
}

type Tagged struct {
	Name   string `msgpack:"name"`
	Count  uint64 `msgpack:"count,omitempty"`
	Hidden string `msgpack:"-"`
	//lint:ignore U1000 proves that unexported fields are skipped
	private  int
	Data     []byte            `msgpack:"data"`
	When     time.Time         `msgpack:"when"`
	Labels   map[string]string `msgpack:"labels"`
	ByID     map[int]Inner     `msgpack:"by_id"`
	Opt      *Inner            `msgpack:"opt,omitempty"`
	Raw      codec.Raw         `msgpack:"raw"`
	Any      any               `msgpack:"any"`
	Fixed    [3]float32        `msgpack:"fixed"`
	Untagged bool
	Inner    // inlined: contributes "x"
}

type Node struct {
	Value    int     `msgpack:"value"`
	Children []*Node `msgpack:"children,omitempty"`
}

type Pair struct {
	//lint:ignore U1000 the msgpack library reads the tag
	_msgpack struct{} `msgpack:",as_array"`
	A, B     int64
}

type AllOmit struct {
	//lint:ignore U1000 the msgpack library reads the tag
	_msgpack struct{} `msgpack:",omitempty"`
	A, B     int64
}

type Shadow struct {
	X     string `msgpack:"x"`
	Inner        // would shadow "x": kept as one field named Inner
}

func schemaOf(t reflect.Type) (*introspect.Schema, map[string]*introspect.Schema) {
	g := introspect.NewGenerator()
	s := g.SchemaOf(t)
	return s, g.Defs()
}

func TestSchemaFollowsMsgpackFieldRules(t *testing.T) {
	s, defs := schemaOf(reflect.TypeFor[Tagged]())
	assert.Nil(t, defs)
	require.Equal(t, "object", s.Type)
	assert.Equal(t, "introspect_test.Tagged", s.GoType)
	assert.Equal(t, []string{"name", "count", "data", "when", "labels", "by_id", "opt", "raw", "any", "fixed", "Untagged", "x"}, s.Order)
	assert.Equal(t, []string{"name", "data", "when", "labels", "by_id", "raw", "any", "fixed", "Untagged", "x"}, s.Required)
	p := s.Properties
	assert.Equal(t, &introspect.Schema{Type: "string"}, p["name"])
	assert.Equal(t, &introspect.Schema{Type: "integer", Format: "uint64"}, p["count"])
	assert.Equal(t, &introspect.Schema{Type: "binary", Nullable: true}, p["data"])
	assert.Equal(t, "timestamp", p["when"].Type)
	assert.Equal(t, "object", p["labels"].Type)
	assert.Equal(t, &introspect.Schema{Type: "string"}, p["labels"].AdditionalProperties)
	assert.Equal(t, &introspect.Schema{Type: "integer", Format: "int64"}, p["by_id"].PropertyNames)
	assert.Equal(t, []string{"x"}, p["by_id"].AdditionalProperties.Order)
	assert.True(t, p["opt"].Nullable)
	assert.Equal(t, "object", p["opt"].Type)
	assert.Equal(t, "", p["raw"].Type, "codec.Raw is any value")
	assert.Equal(t, &introspect.Schema{}, p["any"])
	assert.Equal(t, "array", p["fixed"].Type)
	assert.Equal(t, 3, *p["fixed"].MinItems)
	assert.Equal(t, &introspect.Schema{Type: "number", Format: "float32"}, p["fixed"].Items)
	assert.Equal(t, &introspect.Schema{Type: "boolean"}, p["Untagged"])
	assert.Equal(t, &introspect.Schema{Type: "integer", Format: "int32"}, p["x"])
	assert.NotContains(t, p, "Hidden")
	assert.NotContains(t, p, "private")
}

func TestSchemaRecursiveTypeUsesDefs(t *testing.T) {
	s, defs := schemaOf(reflect.TypeFor[*Node]())
	name := "introspect_test.Node"
	assert.Equal(t, &introspect.Schema{Ref: "#/$defs/" + name, Nullable: true}, s)
	require.Contains(t, defs, name)
	def := defs[name]
	assert.Equal(t, []string{"value", "children"}, def.Order)
	assert.Equal(t, "array", def.Properties["children"].Type)
	assert.Equal(t, "#/$defs/"+name, def.Properties["children"].Items.Ref)
}

func TestSchemaStructOptions(t *testing.T) {
	s, _ := schemaOf(reflect.TypeFor[Pair]())
	assert.Equal(t, "array", s.Type)
	assert.Equal(t, []string{"A", "B"}, s.Order)
	assert.Equal(t, 2, *s.MaxItems)

	s, _ = schemaOf(reflect.TypeFor[AllOmit]())
	assert.Equal(t, "object", s.Type)
	assert.Empty(t, s.Required)

	s, _ = schemaOf(reflect.TypeFor[Shadow]())
	assert.Equal(t, []string{"x", "Inner"}, s.Order)
	assert.Equal(t, "object", s.Properties["Inner"].Type)
}

func TestSchemaScalars(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want introspect.Schema
	}{
		{int(0), introspect.Schema{Type: "integer", Format: "int64"}},
		{uint8(0), introspect.Schema{Type: "integer", Format: "uint8"}},
		{float64(0), introspect.Schema{Type: "number", Format: "float64"}},
		{"", introspect.Schema{Type: "string"}},
		{[]string{}, introspect.Schema{Type: "array", Items: &introspect.Schema{Type: "string"}, Nullable: true}},
		{time.Duration(0), introspect.Schema{Type: "integer", Format: "int64", GoType: "time.Duration"}},
	} {
		s, _ := schemaOf(reflect.TypeOf(tc.v))
		assert.Equal(t, &tc.want, s, "%T", tc.v)
	}
	assert.Nil(t, introspect.NewGenerator().SchemaOf(nil))
}

// TestSchemaMatchesEncoder checks the field names against what the msgpack
// encoder really writes: a zero value has exactly the required fields, a
// full one has every field.
func TestSchemaMatchesEncoder(t *testing.T) {
	s, _ := schemaOf(reflect.TypeFor[Tagged]())
	keys := func(v any) []string {
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		var m map[string]any
		require.NoError(t, codec.Unmarshal(b, &m))
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	assert.ElementsMatch(t, s.Required, keys(Tagged{}))
	assert.ElementsMatch(t, s.Order, keys(Tagged{Count: 1, Opt: &Inner{}}))

	s, _ = schemaOf(reflect.TypeFor[Shadow]())
	assert.ElementsMatch(t, s.Order, keys(Shadow{}))
}
