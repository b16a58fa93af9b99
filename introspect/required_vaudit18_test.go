package introspect_test

import (
	"reflect"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// V18Inner is embedded by the types below.
type V18Inner struct {
	A int
	B string `msgpack:"b,omitempty"`
}

// V18Ptr embeds V18Inner through a pointer.
type V18Ptr struct {
	*V18Inner
	C int
}

// V18Value embeds V18Inner by value.
type V18Value struct {
	V18Inner
	C int
}

// V18Deep embeds a pointer-embedding struct by value.
type V18Deep struct {
	V18Ptr
	D int
}

// TestVaudit18RequiredMeansAlwaysWritten checks the package doc's "A
// field is required when the encoder always writes it": the encoding of
// each type's zero value has every field its schema requires. A struct
// embedded through a nil pointer writes none of its fields, and its
// fields were listed as required ({"C": 0} for V18Ptr, whose schema
// required "A").
func TestVaudit18RequiredMeansAlwaysWritten(t *testing.T) {
	for _, v := range []any{V18Ptr{}, V18Value{}, V18Deep{}, V18Ptr{V18Inner: &V18Inner{}}} {
		s := introspect.NewGenerator().SchemaOf(reflect.TypeOf(v))
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, codec.Unmarshal(b, &got))
		for _, name := range s.Required {
			assert.Contains(t, got, name, "%T %+v encodes as %v, without its required %q", v, v, got, name)
		}
		for name := range got {
			assert.Contains(t, s.Properties, name, "%T", v)
		}
	}
	s := introspect.NewGenerator().SchemaOf(reflect.TypeFor[V18Ptr]())
	assert.Equal(t, []string{"C"}, s.Required)
	assert.Equal(t, []string{"A", "b", "C"}, s.Order, "the fields are still described, in order")
	s = introspect.NewGenerator().SchemaOf(reflect.TypeFor[V18Value]())
	assert.Equal(t, []string{"A", "C"}, s.Required, "by value, the embedded fields are always written")
}
