package msgpack

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// conversion is one value of one wire kind decoded into field V of type T.
type conversion struct {
	name string
	typ  reflect.Type // V's type
	wire any          // encoded with msgpack as the value of "V"
	want any          // V after decoding, when err is ""
	err  string       // the ValueError's Msg
	path string       // the ValueError's Path, when not "V"
}

func conversions() []conversion {
	i8, i64, u, u8, u32, u64 := reflect.TypeFor[int8](), reflect.TypeFor[int64](), reflect.TypeFor[uint](),
		reflect.TypeFor[uint8](), reflect.TypeFor[uint32](), reflect.TypeFor[uint64]()
	in, f32, f64 := reflect.TypeFor[int](), reflect.TypeFor[float32](), reflect.TypeFor[float64]()
	return []conversion{
		// integers into integers: exact when in range, whatever the wire width
		{name: "int8 wire into int64", typ: i64, wire: int8(-5), want: int64(-5)},
		{name: "uint wire into int", typ: in, wire: uint64(7), want: 7},
		{name: "int64 wire into int8 in range", typ: i8, wire: int64(-128), want: int8(-128)},
		{name: "above int8", typ: i8, wire: 300, err: "want an integer from -128 to 127 (int8), got 300"},
		{name: "below int8", typ: i8, wire: -129, err: "want an integer from -128 to 127 (int8), got -129"},
		{name: "uint64 max into int64", typ: i64, wire: uint64(math.MaxUint64), err: "want an integer from -9223372036854775808 to 9223372036854775807 (int64), got 18446744073709551615"},
		// floats into integers: integral and in range only
		{name: "integral float into int", typ: in, wire: 4.0, want: 4},
		{name: "float32 integral into int8", typ: i8, wire: float32(-3), want: int8(-3)},
		{name: "fraction into int", typ: in, wire: 3.5, err: "want an integer, got 3.5"},
		{name: "NaN into int", typ: in, wire: math.NaN(), err: "want an integer, got NaN"},
		{name: "Inf into int", typ: in, wire: math.Inf(1), err: "want an integer from -9223372036854775808 to 9223372036854775807 (int), got +Inf"},
		{name: "1e19 into int64", typ: i64, wire: 1e19, err: "want an integer from -9223372036854775808 to 9223372036854775807 (int64), got 1e+19"},
		{name: "300.0 into int8", typ: i8, wire: 300.0, err: "want an integer from -128 to 127 (int8), got 300"},
		// unsigned
		{name: "negative into uint", typ: u, wire: -1, err: "want an integer from 0 to 18446744073709551615 (uint), got -1"},
		{name: "uint8 max", typ: u8, wire: 255, want: uint8(255)},
		{name: "above uint8", typ: u8, wire: 256, err: "want an integer from 0 to 255 (uint8), got 256"},
		{name: "integral float into uint32", typ: u32, wire: 4.0, want: uint32(4)},
		{name: "negative float into uint32", typ: u32, wire: -1.0, err: "want an integer from 0 to 4294967295 (uint32), got -1"},
		{name: "fraction into uint32", typ: u32, wire: 2.5, err: "want an integer, got 2.5"},
		{name: "uint64 max", typ: u64, wire: uint64(math.MaxUint64), want: uint64(math.MaxUint64)},
		{name: "non-negative int wire into uint64", typ: u64, wire: int64(9), want: uint64(9)},
		// into floats
		{name: "int into float64", typ: f64, wire: 3, want: 3.0},
		{name: "2^53 into float64", typ: f64, wire: int64(1 << 53), want: float64(1 << 53)},
		{name: "2^53+1 into float64", typ: f64, wire: int64(1<<53 + 1), err: "want a number that float64 holds exactly, got 9007199254740993"},
		{name: "uint64 max into float64", typ: f64, wire: uint64(math.MaxUint64), err: "want a number that float64 holds exactly, got 18446744073709551615"},
		{name: "2^24+1 into float32", typ: f32, wire: 1<<24 + 1, err: "want a number that float32 holds exactly, got 16777217"},
		{name: "float64 into float32 rounds", typ: f32, wire: 0.1, want: float32(0.1)},
		{name: "float64 beyond float32", typ: f32, wire: 1e300, err: "want a number within float32's range, got 1e+300"},
		{name: "Inf into float32", typ: f32, wire: math.Inf(-1), want: float32(math.Inf(-1))},
		// strings and numbers never mix
		{name: "string into int", typ: in, wire: "3", err: `want an integer, got "3"`},
		{name: "string into uint", typ: u, wire: "3", err: `want a non-negative integer, got "3"`},
		{name: "string into float", typ: f64, wire: "x", err: `want a number, got "x"`},
		{name: "bool into int", typ: in, wire: true, err: "want an integer, got true"},
		{name: "number into string", typ: reflect.TypeFor[string](), wire: 3, err: "want a string, got 3"},
		{name: "bin into string", typ: reflect.TypeFor[string](), wire: []byte("hi"), want: "hi"},
		{name: "number into bool", typ: reflect.TypeFor[bool](), wire: 1, err: "want a boolean, got 1"},
		{name: "long string quoted and cut", typ: in, wire: "0123456789012345678901234567890123456789xyz", err: `want an integer, got "0123456789012345678901234567890123456789"…`},
		// nil fits everything
		{name: "nil into int", typ: in, wire: nil, want: 0},
		{name: "nil into string", typ: reflect.TypeFor[string](), wire: nil, want: ""},
		// containers carry the path
		{name: "slice element", typ: reflect.TypeFor[[]int](), wire: []any{1, 2.5}, err: "want an integer, got 2.5", path: "V[1]"},
		{name: "map value", typ: reflect.TypeFor[map[string]int](), wire: map[string]any{"k": 1.5}, err: "want an integer, got 1.5", path: `V["k"]`},
		{name: "not an array", typ: reflect.TypeFor[[]int](), wire: 3, err: "want an array, got 3"},
		{name: "not a map", typ: reflect.TypeFor[map[string]int](), wire: "m", err: `want a map, got "m"`},
		// structs: a map, or an array of at most the struct's fields
		{name: "nested positional, fewer", typ: reflect.TypeFor[pair](), wire: []any{1}, want: pair{A: 1}},
		{name: "nested positional, too many", typ: reflect.TypeFor[pair](), wire: []any{1, 2, 3}, err: "too many values: want at most 2 (A, B), got 3"},
		{name: "nested field", typ: reflect.TypeFor[pair](), wire: map[string]any{"B": -0.5}, err: "want an integer, got -0.5", path: "V.B"},
		{name: "nested positional field", typ: reflect.TypeFor[pair](), wire: []any{1, "two"}, err: `want an integer, got "two"`, path: "V.B"},
		{name: "struct from a string", typ: reflect.TypeFor[pair](), wire: "x", err: `want a map or an array, got "x"`},
		{name: "nested map naming no field is taken", typ: reflect.TypeFor[pair](), wire: map[string]any{"x": 1}, want: pair{}},
	}
}

type pair struct{ A, B int }

// holder returns the struct types struct{ V T } (fast path) and
// struct{ V T; X any } (msgpack, after check), and a pointer to a new
// value of each.
func holders(typ reflect.Type) (fast, slow reflect.Value) {
	vf := reflect.StructField{Name: "V", Type: typ}
	xf := reflect.StructField{Name: "X", Type: reflect.TypeFor[any]()}
	return reflect.New(reflect.StructOf([]reflect.StructField{vf})),
		reflect.New(reflect.StructOf([]reflect.StructField{vf, xf}))
}

// TestConversions runs every conversion class through the fast path and
// through msgpack's reflection path (a struct with an interface field),
// which must agree on what they take and how they refuse.
func TestConversions(t *testing.T) {
	for _, c := range conversions() {
		t.Run(c.name, func(t *testing.T) {
			b, err := vmsgpack.Marshal(map[string]any{"V": c.wire})
			require.NoError(t, err)
			fast, slow := holders(c.typ)
			require.NotNil(t, planFor(fast.Type().Elem()).p, "fast holder")
			require.Nil(t, planFor(slow.Type().Elem()).p, "slow holder")
			for _, target := range []reflect.Value{fast, slow} {
				err := NewDecoder().Decode(b, target.Interface())
				if c.err == "" {
					require.NoError(t, err)
					assert.Equal(t, c.want, target.Elem().Field(0).Interface())
					continue
				}
				require.ErrorIs(t, err, ErrDecode)
				var ve *ValueError
				require.ErrorAs(t, err, &ve)
				path := c.path
				if path == "" {
					path = "V"
				}
				assert.Equal(t, ValueError{Path: path, Msg: c.err}, *ve)
			}
		})
	}
}

type args struct{ A, B int }

type argsSlow struct {
	A, B int
	X    any
}

type base struct{ A, B int }

type embedded struct {
	base
	C int
}

func TestPositional(t *testing.T) {
	cases := []struct {
		name   string
		target func() any
		wire   []any
		want   any
		err    *ValueError
	}{
		{"fast fraction", func() any { return &args{} }, []any{3.5, 4}, nil, &ValueError{Path: "A", Pos: 1, Msg: "want an integer, got 3.5"}},
		{"slow fraction", func() any { return &argsSlow{} }, []any{3, 4.5}, nil, &ValueError{Path: "B", Pos: 2, Msg: "want an integer, got 4.5"}},
		{"fast fewer", func() any { return &args{} }, []any{3}, &args{A: 3}, nil},
		{"slow fewer", func() any { return &argsSlow{} }, []any{3}, &argsSlow{A: 3}, nil},
		{"slow all", func() any { return &argsSlow{} }, []any{3, 4, "x"}, &argsSlow{A: 3, B: 4, X: "x"}, nil},
		{"fast too many", func() any { return &args{} }, []any{3, 4, 5}, nil, &ValueError{Msg: "too many values: want at most 2 (A, B), got 3"}},
		{"slow too many", func() any { return &argsSlow{} }, []any{3, 4, 5, 6}, nil, &ValueError{Msg: "too many values: want at most 3 (A, B, X), got 4"}},
		{"embedded inlined", func() any { return &embedded{} }, []any{1, 2, 3}, &embedded{base{1, 2}, 3}, nil},
		{"embedded fewer", func() any { return &embedded{} }, []any{1}, &embedded{base: base{A: 1}}, nil},
		{"embedded fraction", func() any { return &embedded{} }, []any{1, 2.5}, nil, &ValueError{Path: "B", Pos: 2, Msg: "want an integer, got 2.5"}},
		{"empty array", func() any { return &argsSlow{} }, []any{}, &argsSlow{}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := vmsgpack.Marshal(c.wire)
			require.NoError(t, err)
			v := c.target()
			err = NewDecoder().DecodeArgs(b, v)
			if c.err == nil {
				require.NoError(t, err)
				assert.Equal(t, c.want, v)
				return
			}
			var ve *ValueError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, *c.err, *ve)
		})
	}
}

// TestPadNested: arrays shorter than their structs, nested, on the
// msgpack path.
func TestPadNested(t *testing.T) {
	type inner struct {
		A, B int
		Y    any
	}
	type outer struct {
		In inner
		X  any
		Z  []inner
	}
	b, err := vmsgpack.Marshal([]any{[]any{1}, 5, []any{[]any{2}, []any{3, 4}}})
	require.NoError(t, err)
	var o outer
	require.NoError(t, NewDecoder().Decode(b, &o))
	assert.Equal(t, outer{In: inner{A: 1}, X: int64(5), Z: []inner{{A: 2}, {A: 3, B: 4}}}, o)

	b, err = vmsgpack.Marshal([]any{[]any{[]any{1}}})
	require.NoError(t, err)
	var oo struct {
		O outer
		W any
	}
	require.NoError(t, NewDecoder().Decode(b, &oo))
	assert.Equal(t, inner{A: 1}, oo.O.In)
}

func TestFields(t *testing.T) {
	for _, target := range []any{&args{}, &argsSlow{}} {
		t.Run(reflect.TypeOf(target).String(), func(t *testing.T) {
			names := FieldNames(reflect.TypeOf(target))
			var buf bytes.Buffer
			enc := vmsgpack.NewEncoder(&buf)
			enc.SetSortMapKeys(true)
			require.NoError(t, enc.Encode(map[string]any{"a": 3, "b": 4}))
			b := buf.Bytes()
			var ve *ValueError
			require.ErrorAs(t, NewDecoder().DecodeArgs(b, target), &ve)
			assert.Equal(t, ValueError{Msg: `no field named "a", "b" (fields: ` + joinNames(names) + ")"}, *ve)

			// The same map is taken by Decode, and by DecodeArgs when one
			// key matches or the map is empty.
			require.NoError(t, NewDecoder().Decode(b, target))
			for _, m := range []map[string]any{{"A": 1, "zz": 2}, {}} {
				b, err := vmsgpack.Marshal(m)
				require.NoError(t, err)
				require.NoError(t, NewDecoder().DecodeArgs(b, target))
			}

			b, err := vmsgpack.Marshal(map[string]any{"A": 1, "zz": 2})
			require.NoError(t, err)
			d := NewDecoder()
			d.DisallowUnknownFields(true)
			require.ErrorAs(t, d.Decode(b, target), &ve)
			assert.Equal(t, ValueError{Msg: `unknown field "zz" (fields: ` + joinNames(names) + ")"}, *ve)
		})
	}
	// Not a top-level struct: no key needs to match.
	b, err := vmsgpack.Marshal([]any{map[string]any{"x": 1}})
	require.NoError(t, err)
	var list []args
	require.NoError(t, NewDecoder().DecodeArgs(b, &list))
	assert.Equal(t, []args{{}}, list)

	assert.Equal(t, []string{"A", "B", "C"}, FieldNames(reflect.TypeFor[*embedded]()))
	assert.Nil(t, FieldNames(reflect.TypeFor[int]()))
	assert.Nil(t, FieldNames(reflect.TypeFor[testRaw]()))
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}

// FuzzStrictAgrees: the fast path and the msgpack path (check, then
// msgpack) refuse the same values as lossy, and decode the rest alike.
func FuzzStrictAgrees(f *testing.F) {
	type inner struct {
		N  int16
		F  float32
		Us []uint8
	}
	type fastT struct {
		I  int
		I8 int8
		U  uint32
		F  float64
		S  string
		In inner
		M  map[string]int64
	}
	type slowT struct { // the same fields; a quoted tag value sends it to msgpack
		I  int `msgpack:"I,x:'y'"`
		I8 int8
		U  uint32
		F  float64
		S  string
		In inner
		M  map[string]int64
	}
	for _, v := range []any{
		map[string]any{"I": 3.5}, map[string]any{"I8": 300}, map[string]any{"U": -1},
		map[string]any{"In": []any{1, 2.5}}, []any{1, 2, 3, "s"}, map[string]any{"M": map[string]any{"k": 1e30}},
		map[string]any{"In": map[string]any{"Us": []any{256}}}, []any{4.0, -1.0},
	} {
		b, _ := vmsgpack.Marshal(v)
		f.Add(b)
	}
	require.NotNil(f, planFor(reflect.TypeFor[fastT]()).p)
	require.Nil(f, planFor(reflect.TypeFor[slowT]()).p)
	require.Equal(f, FieldNames(reflect.TypeFor[fastT]()), FieldNames(reflect.TypeFor[slowT]()))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Validate(b)
		if err != nil || n != len(b) {
			return
		}
		var fv fastT
		var sv slowT
		ferr := NewDecoder().Decode(b, &fv)
		serr := NewDecoder().Decode(b, &sv)
		var fve, sve *ValueError
		if errors.As(ferr, &fve) && serr == nil {
			t.Fatalf("fast refused %v, msgpack path took it", ferr)
		}
		if errors.As(serr, &sve) && ferr == nil {
			t.Fatalf("msgpack path refused %v, fast took it", serr)
		}
		if ferr == nil && serr == nil {
			if fv.F != fv.F && sv.F != sv.F {
				fv.F, sv.F = 0, 0
			}
			if fv.In.F != fv.In.F && sv.In.F != sv.In.F {
				fv.In.F, sv.In.F = 0, 0
			}
			assert.Equal(t, fv, fastT(sv))
		}
	})
}

// TestEditsMoveExtensions: an edit before an extension value (an integral
// float made an int, a short array padded) moves it; msgpack still finds
// it whole.
func TestEditsMoveExtensions(t *testing.T) {
	type withTime struct {
		N  int
		T  time.Time
		In struct {
			A, B int
			Y    any
		}
		X any
	}
	when := time.Date(2026, 12, 5, 14, 0, 0, 0, time.UTC)
	b, err := vmsgpack.Marshal([]any{4.0, when, []any{1.0}})
	require.NoError(t, err)
	var v withTime
	require.NoError(t, NewDecoder().Decode(b, &v))
	assert.Equal(t, 4, v.N)
	assert.True(t, when.Equal(v.T), "%v", v.T)
	assert.Equal(t, 1, v.In.A)
}
