package registry

import (
	"math"
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
	type labelled struct {
		Labels map[string]string
		Values []int16
	}
	const (
		none  = 0
		maps  = holdsMap
		iface = holdsInterface
	)
	cases := []struct {
		typ   reflect.Type
		want  int // bytes per encoded byte
		holds int // and perItem per element (iface) or per map and entry (maps)
	}{
		{reflect.TypeFor[args](), 8, none},
		{reflect.TypeFor[[]byte](), 2, none},
		{reflect.TypeFor[string](), 2, none},
		{reflect.TypeFor[small](), 2, none},
		{reflect.TypeFor[[]int64](), 8, none},
		{reflect.TypeFor[map[int64]int8](), 8, maps},
		{reflect.TypeFor[any](), 2, iface},
		{reflect.TypeFor[map[string]any](), 2, iface},
		{reflect.TypeFor[map[string]string](), 2, maps},
		{reflect.TypeFor[[]map[string]string](), 2, maps}, // each map counted with its entries
		{reflect.TypeFor[[]any](), 2, iface},              // each value an item
		{reflect.TypeFor[blobAny](), 2, iface},            // a []byte beside a []any: bytes are bytes
		{reflect.TypeFor[blob](), 2, maps},
		{reflect.TypeFor[labelled](), 2, maps},            // numbers beside a map are not charged as maps
		{reflect.TypeFor[[]big](), 256, none},             // a whole struct per one-byte element, capped
		{reflect.TypeFor[*map[string]string](), 10, maps}, // pointer to a map
	}
	for _, c := range cases {
		m := &Method{ArgsType: c.typ}
		want := 100 * c.want
		switch c.holds {
		case iface:
			want += 7 * perItem
		case maps:
			want += 3 * perItem
		}
		assert.Equal(t, want, m.DecodeCost(100, 7, 3), c.typ.String())
		assert.Equal(t, want, m.DecodeCost(100, 7, 3), "cached: %s", c.typ)
	}
	assert.Equal(t, 10, (&Method{}).DecodeCost(10, 3, 1), "untyped methods cost what they weigh")
	anys := &Method{ArgsType: reflect.TypeFor[[]any]()}
	bomb := anys.DecodeCost(6<<20, 6<<20, 0)
	assert.Positive(t, bomb, "a 6 MiB bomb costs more than nothing, on any platform")
	assert.GreaterOrEqual(t, anys.DecodeCost(math.MaxInt, math.MaxInt, math.MaxInt), bomb, "capped, never wrapped")
}

// TestDecodeCostOf: a value's type is costed as a method's argument type,
// a pointer followed, and the same again from the cache.
func TestDecodeCostOf(t *testing.T) {
	type msg struct {
		Metas []map[string]string
		Data  []byte
	}
	for range 2 {
		assert.Equal(t, 100*2+3*perItem, DecodeCostOf(reflect.TypeFor[*msg](), 100, 7, 3))
		assert.Equal(t, 100*2+3*perItem, DecodeCostOf(reflect.TypeFor[msg](), 100, 7, 3))
		assert.Equal(t, 100*2, DecodeCostOf(reflect.TypeFor[*[]byte](), 100, 7, 3))
	}
	assert.Equal(t, 100, DecodeCostOf(nil, 100, 7, 3))
}

// TestDecodeCostDoesNotWrap: with MaxMessageSize up to 1 GiB, n × 256
// plus items × perItem passes 2³¹ from about 4.8 MiB: on a 32-bit
// platform the cost must not wrap (Budget.Charge takes a cost ≤ 0 as
// free). Run with GOARCH=386 to see it there.
func TestDecodeCostDoesNotWrap(t *testing.T) {
	type rec struct {
		Pad  [300]byte
		Tags map[string]string
	}
	m := &Method{ArgsType: reflect.TypeFor[[]rec]()}
	n := 6 << 20 // a 6 MiB message under MaxMessageSize 8 MiB
	cost := m.DecodeCost(n, n, n)
	assert.Positive(t, cost)
	assert.GreaterOrEqual(t, int64(cost), min(int64(n)*256, math.MaxInt32))
	assert.Positive(t, DecodeCostOf(reflect.TypeFor[*[]rec](), n, n, n))
}
