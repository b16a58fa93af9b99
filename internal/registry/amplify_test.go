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
	cases := []struct {
		typ  reflect.Type
		want int
	}{
		{reflect.TypeFor[args](), 8},
		{reflect.TypeFor[[]byte](), 2},
		{reflect.TypeFor[string](), 2},
		{reflect.TypeFor[small](), 2},
		{reflect.TypeFor[any](), 256}, // maps nested in maps
		{reflect.TypeFor[map[string]any](), 256},
		{reflect.TypeFor[map[string]string](), 128}, // one of many maps
		{reflect.TypeFor[[]map[string]string](), 128},
		{reflect.TypeFor[[]big](), 256},              // a whole struct per one-byte element, capped
		{reflect.TypeFor[*map[string]string](), 136}, // pointer to a map
	}
	for _, c := range cases {
		m := &Method{ArgsType: c.typ}
		assert.Equal(t, 100*c.want, m.DecodeCost(100), c.typ.String())
		assert.Equal(t, 100*c.want, m.DecodeCost(100), "cached: %s", c.typ)
	}
	assert.Equal(t, 10, (&Method{}).DecodeCost(10), "untyped methods cost what they weigh")
}
