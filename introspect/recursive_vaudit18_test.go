package introspect_test

import (
	"reflect"
	"testing"

	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// V18List is a slice of itself.
type V18List []V18List

// V18Tree2 is a map of itself.
type V18Tree2 map[string]V18Tree2

// V18Pair is an array of pointers to itself.
type V18Pair [2]*V18Pair

// V18Loop is a pointer to itself.
type V18Loop *V18Loop

// TestVaudit18SchemaOfRecursiveNonStructs checks "A recursive type is
// described once under "$defs" and referred to with "$ref"" for recursive
// types that are no structs; SchemaOf recursed until the stack
// overflowed on each.
func TestVaudit18SchemaOfRecursiveNonStructs(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[V18List](), reflect.TypeFor[V18Tree2](), reflect.TypeFor[V18Pair](), reflect.TypeFor[V18Loop](),
	} {
		g := introspect.NewGenerator()
		s := g.SchemaOf(typ)
		require.NotNil(t, s, typ)
		assert.Equal(t, "#/$defs/"+g.Defs()[s.Ref[len("#/$defs/"):]].GoType, s.Ref, typ)
		assert.Len(t, g.Defs(), 1, typ)
	}
	s := introspect.NewGenerator().SchemaOf(reflect.TypeFor[[]V18List]())
	assert.Equal(t, "array", s.Type, "an unnamed slice of a recursive one is described inline")
}
