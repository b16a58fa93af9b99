package e2e

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// V18Nest is a list of lists of itself: a recursive type that is no
// struct.
type V18Nest []V18Nest

// V18Doc is a map of itself.
type V18Doc map[string]V18Doc

// TestVaudit18RecursiveTypesThatAreNoStructs: types such as
// `type T []T` and `type T map[string]T` are legal Go and encode like
// any other (a finite value of them nests a finite depth), but the engine's
// check of how deep a type may nest guarded only structs against
// recursion: sending one as arguments recursed until the stack overflowed
// ("fatal error: stack overflow", in engine.depthOf), killing the caller,
// and a handler replying one killed the server. Introspect.Describe of
// such a method did the same (introspect's schema). Calls carry them now,
// and Describe refers to them through "$defs" as the package doc says
// of every recursive type.
func TestVaudit18RecursiveTypesThatAreNoStructs(t *testing.T) {
	s := server.New()
	require.NoError(t, server.Handle(s, "Rec.Nest", func(_ context.Context, n *V18Nest) (*V18Nest, error) {
		out := append(V18Nest{{}}, *n...)
		return &out, nil
	}))
	require.NoError(t, server.Handle(s, "Rec.Doc", func(_ context.Context, d *V18Doc) (*V18Doc, error) {
		out := V18Doc{"got": *d}
		return &out, nil
	}))
	require.NoError(t, introspect.Register(s))
	c, _ := ferrytest.ServeAndDial(t, s)

	var nest V18Nest
	require.NoError(t, c.Call(t.Context(), "Rec.Nest", V18Nest{{{}}}, &nest))
	assert.Equal(t, V18Nest{{}, {{}}}, nest)
	var doc V18Doc
	require.NoError(t, c.Call(t.Context(), "Rec.Doc", V18Doc{"a": {"b": nil}}, &doc))
	assert.Equal(t, V18Doc{"got": {"a": {"b": nil}}}, doc)

	b, err := codec.Marshal(V18Doc{"a": {}})
	require.NoError(t, err)
	var back V18Doc
	require.NoError(t, codec.Unmarshal(b, &back))
	assert.Equal(t, V18Doc{"a": {}}, back)

	for _, m := range []string{"Rec.Nest", "Rec.Doc"} {
		var d introspect.Description
		require.NoError(t, c.Call(t.Context(), introspect.DescribeMethod, introspect.DescribeArgs{Method: m}, &d), m)
		require.NotNil(t, d.Args, m)
		require.NotEmpty(t, d.Args.Ref, "%s: a recursive type is referred to with $ref", m)
		def := d.Defs[d.Args.Ref[len("#/$defs/"):]]
		require.NotNil(t, def, "%s: described once under $defs", m)
		if m == "Rec.Nest" {
			assert.Equal(t, "array", def.Type)
			assert.Equal(t, d.Args.Ref, def.Items.Ref)
		} else {
			assert.Equal(t, "object", def.Type)
			assert.Equal(t, d.Args.Ref, def.AdditionalProperties.Ref)
		}
	}
}
