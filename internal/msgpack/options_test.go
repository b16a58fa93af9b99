package msgpack

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// Struct options on the fast path: as_array, omitempty (per field and
// from _msgpack), renamed and aliased fields, skipped fields, embedded
// structs inlined, shadowed, forced inline or not. Each type must have a
// fast plan and agree with msgpack v5.4.1 byte for byte when encoding and
// value for value when decoding.

type optBase struct {
	ID   int64  `msgpack:"id"`
	Name string `msgpack:"name,omitempty"`
}

type optInner struct {
	//lint:ignore U1000 msgpack reads the tag
	_msgpack struct{} `msgpack:",omitempty"`
	A        int
	B        string
	C        []byte
}

type optArray struct {
	//lint:ignore U1000 msgpack reads the tag
	_msgpack struct{} `msgpack:",as_array"`
	X        int8
	Y        string `msgpack:"y,omitempty"` // arrays keep every field
	Z        []uint16
	In       optInner
	P        *optBase
}

type optAll struct {
	optBase
	Renamed  string   `msgpack:"r"`
	Alias    uint32   `msgpack:"al,alias:A2"`
	Skip     int      `msgpack:"-"`
	SkipOpt  int      `msgpack:"-,omitempty"`
	Omit     int32    `msgpack:",omitempty"`
	OmitS    []string `msgpack:",omitempty"`
	OmitF    float64  `msgpack:",omitempty"`
	OmitB    bool     `msgpack:",omitempty"`
	OmitP    *optBase `msgpack:",omitempty"`
	OmitIn   optInner `msgpack:",omitempty"` // empty when all its fields are
	OmitBase optBase  `msgpack:",omitempty"` // never empty: id is not omitempty
	Arr      optArray
	Arrs     []optArray
}

// optShadow embeds a struct one of whose names is taken: it stays a field.
type optShadow struct {
	ID int64 `msgpack:"id"`
	optBase
}

// OptExported is embedded under a tag name.
type OptExported struct {
	E1 int
	E2 string `msgpack:",omitempty"`
}

type optEmbeds struct {
	OptExported `msgpack:"ex"`
	Shadow      optShadow
	Forced      struct{ ID, Z int } `msgpack:",inline"` // not embedded: inline means nothing
	optInner    `msgpack:",noinline"`
	Last        string `msgpack:"id"` // a duplicate name: decoding picks this one
}

type optNumbersArray struct {
	//lint:ignore U1000 msgpack reads the tag
	_msgpack struct{} `msgpack:",asArray"`
	A, B, C  int64
	U        uint32
	X, Y     float64
	F        bool
	Ns       []int32
}

var optTypes = []reflect.Type{reflect.TypeFor[optAll](), reflect.TypeFor[optArray](), reflect.TypeFor[optShadow](),
	reflect.TypeFor[optEmbeds](), reflect.TypeFor[optNumbersArray](), reflect.TypeFor[optInner]()}

// fill sets v to random contents, empty ones often.
func fill(r *rand.Rand, v reflect.Value, depth int) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(r.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if r.IntN(3) > 0 {
			v.SetInt(r.Int64() >> r.IntN(64) * int64(1-2*r.IntN(2)))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if r.IntN(3) > 0 {
			v.SetUint(r.Uint64() >> r.IntN(64))
		}
	case reflect.Float32, reflect.Float64:
		if r.IntN(3) > 0 {
			v.SetFloat(float64(float32(r.NormFloat64() * 1000)))
		}
	case reflect.String:
		b := make([]byte, r.IntN(3)*r.IntN(20))
		for i := range b {
			b[i] = byte('a' + r.IntN(26))
		}
		v.SetString(string(b))
	case reflect.Slice:
		if r.IntN(3) == 0 || depth > 3 {
			return // nil
		}
		n := r.IntN(4)
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := 0; i < n; i++ {
			fill(r, v.Index(i), depth+1)
		}
	case reflect.Map: // at most one entry: both encoders follow the map's own order
		if r.IntN(3) == 0 || depth > 3 {
			return
		}
		v.Set(reflect.MakeMap(v.Type()))
		if r.IntN(3) > 0 {
			k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(r, k, depth+1)
			fill(r, e, depth+1)
			v.SetMapIndex(k, e)
		}
	case reflect.Pointer:
		if r.IntN(2) == 0 || depth > 3 {
			return
		}
		v.Set(reflect.New(v.Type().Elem()))
		fill(r, v.Elem(), depth+1)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() || v.Type().Field(i).Anonymous {
				fill(r, reflect.NewAt(v.Field(i).Type(), v.Field(i).Addr().UnsafePointer()).Elem(), depth+1)
			}
		}
	}
}

// refMarshal encodes v as Ferry configures msgpack.
func refMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	err := NewEncoder(&buf).Encode(v)
	return buf.Bytes(), err
}

// slowDecode decodes b into a new value of t as the slow path does:
// msgpack, on the bytes check gives it. (msgpack alone reads a uint64 of
// 2^63 and up into a float as a negative number; check edits it into a
// float: FuzzOptionsAgree's seed 79404dde85139c6d.)
func slowDecode(b []byte, t reflect.Type) (v reflect.Value, err error) {
	v = reflect.New(t)
	defer func() {
		if p := recover(); p != nil {
			err = ErrDecode
		}
	}()
	if b, err = (&fastDecoder{}).checkSlow(b, v.Interface()); err != nil {
		return v, err
	}
	return v, vmsgpack.Unmarshal(b, v.Interface())
}

func TestOptionsTakeTheFastPath(t *testing.T) {
	for _, typ := range optTypes {
		assert.NotNil(t, planFor(typ).p, "%v", typ)
	}
	assert.Equal(t, []string{"id", "name", "r", "al", "Omit", "OmitS", "OmitF", "OmitB", "OmitP", "OmitIn", "OmitBase",
		"Arr", "Arrs"}, FieldNames(reflect.TypeFor[optAll]()))
	assert.Equal(t, []string{"id", "optBase"}, FieldNames(reflect.TypeFor[optShadow]()))
	assert.Equal(t, []string{"E1", "E2", "Shadow", "Forced", "optInner", "id"}, FieldNames(reflect.TypeFor[optEmbeds]()))
}

// TestOptionsMatchMsgpack: random values of every option type encode to
// msgpack's bytes and decode to msgpack's values.
func TestOptionsMatchMsgpack(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, typ := range optTypes {
		for i := 0; i < 300; i++ {
			v := reflect.New(typ)
			fill(r, v.Elem(), 0)
			want, err := refMarshal(v.Interface())
			require.NoError(t, err)
			got, ok := AppendFast(nil, v.Interface())
			require.True(t, ok)
			require.Equal(t, want, got, "%v %+v", typ, v.Elem())
			checkDecodeAgrees(t, typ, want, true)
		}
	}
}

// checkDecodeAgrees decodes b into typ with the fast path and with msgpack
// and, when both take it, compares the values and their encodings.
func checkDecodeAgrees(t *testing.T, typ reflect.Type, b []byte, mustTake bool) {
	fast := reflect.New(typ)
	ok, ferr := decodeFast(&fastDecoder{}, b, fast.Interface())
	require.True(t, ok)
	slow, serr := slowDecode(b, typ)
	if mustTake {
		require.NoError(t, ferr, "% x", b)
		require.NoError(t, serr, "% x", b)
	}
	if ferr != nil || serr != nil {
		return
	}
	want, err := refMarshal(slow.Interface())
	require.NoError(t, err)
	if !assert.ObjectsAreEqual(slow.Interface(), fast.Interface()) { // a NaN never equals itself: compare bits
		fastBits, err := refMarshal(fast.Interface())
		require.NoError(t, err)
		require.Equal(t, want, fastBits, "% x", b)
	}
	got, _ := AppendFast(nil, fast.Interface())
	require.Equal(t, want, got)
}

// TestOptionsDecodeEdges: the names a map may use beyond the encoded
// ones, and what a nil takes.
func TestOptionsDecodeEdges(t *testing.T) {
	for _, c := range []struct {
		typ  reflect.Type
		wire any
	}{
		{reflect.TypeFor[optAll](), map[string]any{"A2": 5, "optBase": map[string]any{"id": 3, "name": "n"}}},
		{reflect.TypeFor[optAll](), map[string]any{"al": 1, "A2": 2, "Skip": 9, "hidden": 4}},
		{reflect.TypeFor[optAll](), map[string]any{"Arr": []any{1, "y", nil, map[string]any{"A": 2}, nil}}},
		{reflect.TypeFor[optEmbeds](), map[string]any{"ex": map[string]any{"E1": 4}, "E1": 5, "id": "x"}},
		{reflect.TypeFor[optEmbeds](), map[string]any{"optInner": map[string]any{"A": 4}, "Forced": map[string]any{"Z": 2}}},
		{reflect.TypeFor[optShadow](), map[string]any{"optBase": map[string]any{"id": 3}, "id": 4}},
		{reflect.TypeFor[optArray](), []any{1, "", []any{2}, nil, map[string]any{"id": 1}}},
		{reflect.TypeFor[optNumbersArray](), []any{1, 2, 3, 4, 1.5, 2.5, true, []any{7}}},
		{reflect.TypeFor[optNumbersArray](), nil},
	} {
		b, err := vmsgpack.Marshal(c.wire)
		require.NoError(t, err)
		checkDecodeAgrees(t, c.typ, b, true)
	}
}

// FuzzOptionsAgree: on any valid msgpack, when the fast path and msgpack
// both decode it into an option type, they agree on the value, and the
// fast path's encoding of it is msgpack's.
func FuzzOptionsAgree(f *testing.F) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, typ := range optTypes {
		v := reflect.New(typ)
		fill(r, v.Elem(), 0)
		b, err := refMarshal(v.Interface())
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte{0x81, 0xa2, 'A', '2', 0x05})
	f.Add([]byte{0x95, 0x01, 0xa0, 0xc0, 0x80, 0xc0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := Validate(b); err != nil || n != len(b) {
			return
		}
		for _, typ := range optTypes {
			checkDecodeAgrees(t, typ, b, false)
		}
	})
}
