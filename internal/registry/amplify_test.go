package registry

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDecodeCost(t *testing.T) {
	type args struct{ A, B int64 }
	type small struct{ X int8 }
	type big struct {
		Name string
		Vals [40]int64
	}
	type blob struct {
		Key  string
		Meta map[string]string
		Data []byte
	}
	type blobAny struct {
		Data  []byte
		Extra []any
	}
	cases := []struct {
		typ   reflect.Type
		want  int  // bytes per encoded byte
		boxes bool // and perItem per element
	}{
		{reflect.TypeFor[args](), 8, false},
		{reflect.TypeFor[[]byte](), 2, false},
		{reflect.TypeFor[string](), 2, false},
		{reflect.TypeFor[small](), 2, false},
		{reflect.TypeFor[[]int64](), 8, false},
		{reflect.TypeFor[map[int64]int8](), 8, true},
		{reflect.TypeFor[any](), 2, true},
		{reflect.TypeFor[map[string]any](), 2, true},
		{reflect.TypeFor[map[string]string](), 2, true},
		{reflect.TypeFor[[]map[string]string](), 2, true}, // each map an item
		{reflect.TypeFor[[]any](), 2, true},               // each value an item
		{reflect.TypeFor[blobAny](), 2, true},             // a []byte beside a []any: bytes are bytes
		{reflect.TypeFor[blob](), 2, true},
		{reflect.TypeFor[[]big](), 256, false},            // a whole struct per one-byte element, capped
		{reflect.TypeFor[*map[string]string](), 10, true}, // pointer to a map
	}
	for _, c := range cases {
		m := &Method{ArgsType: c.typ}
		want := 100 * c.want
		if c.boxes {
			want += 7 * perItem
		}
		assert.Equal(t, want, m.DecodeCost(100, 7), c.typ.String())
		assert.Equal(t, want, m.DecodeCost(100, 7), "cached: %s", c.typ)
	}
	assert.Equal(t, 10, (&Method{}).DecodeCost(10, 3), "untyped methods cost what they weigh")
}

// TestDecodeCostOf: a value's type is costed as a method's argument type,
// a pointer followed, and the same again from the cache.
func TestDecodeCostOf(t *testing.T) {
	type msg struct {
		Metas []map[string]string
		Data  []byte
	}
	for range 2 {
		assert.Equal(t, 100*2+7*perItem, DecodeCostOf(reflect.TypeFor[*msg](), 100, 7))
		assert.Equal(t, 100*2+7*perItem, DecodeCostOf(reflect.TypeFor[msg](), 100, 7))
		assert.Equal(t, 100*2, DecodeCostOf(reflect.TypeFor[*[]byte](), 100, 7))
	}
	assert.Equal(t, 100, DecodeCostOf(nil, 100, 7))
}
