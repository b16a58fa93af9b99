package main

import (
	"reflect"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit19FloatLiteralForAnInteger: a JSON number written with a
// fraction or an exponent goes out as a float64 (the package doc), so the
// check refuses one for an integer argument when the float64 is not the
// integer written: the server would compute on another integer
// (9007199254740993.0 arrives as 9007199254740992) or refuse what the
// check passed (9223372036854775807.0 arrives as 2^63). One the float64
// holds exactly still passes.
func TestVaudit19FloatLiteralForAnInteger(t *testing.T) {
	desc := func(v any) *introspect.Description {
		return &introspect.Description{Name: "S.M", Args: introspect.NewGenerator().SchemaOf(reflect.TypeOf(v))}
	}
	i64, u64 := desc(int64(0)), desc(uint64(0))
	for _, tc := range []struct {
		d    *introspect.Description
		json string
		want []string
	}{
		{i64, `9007199254740993.0`, []string{"argument 1: want an integer, got 9007199254740993.0, which goes out as the float64 9007199254740992: write it without a fraction or an exponent"}},
		{i64, `9007199254740993e0`, []string{"argument 1: want an integer, got 9007199254740993e0, which goes out as the float64 9007199254740992: write it without a fraction or an exponent"}},
		{i64, `9223372036854775807.0`, []string{"argument 1: want an integer, got 9223372036854775807.0, which goes out as the float64 9223372036854775808: write it without a fraction or an exponent"}},
		{u64, `18446744073709551615.0`, []string{"argument 1: want an integer, got 18446744073709551615.0, which goes out as the float64 18446744073709551616: write it without a fraction or an exponent"}},
		{i64, `9007199254740992.0`, nil},
		{i64, `-9223372036854775808.0`, nil},
		{i64, `1e2`, nil},
		{u64, `9223372036854775808.0`, nil},
	} {
		assert.Equal(t, tc.want, checkParams(tc.json, tc.d), "%s", tc.json)
	}
}

// TestVaudit19Float32Bound: the check refuses for a float32 what the
// server refuses, a float64 that float32 rounds to infinity, and no more:
// 3.4028235e38, as Go prints float32's largest value, is above that value
// as a float64 but rounds to it, and the server takes it.
func TestVaudit19Float32Bound(t *testing.T) {
	f32 := &introspect.Description{Name: "S.M", Args: introspect.NewGenerator().SchemaOf(reflect.TypeFor[float32]())}
	for _, tc := range []struct {
		json string
		want []string
	}{
		{`3.4028235e38`, nil},
		{`-3.4028235e38`, nil},
		{`3.4028234663852886e38`, nil},
		{`3.4028236e38`, []string{"argument 1: want a number within float32's range, got 3.4028236e38"}},
		{`1e39`, []string{"argument 1: want a number within float32's range, got 1e39"}},
		{`-1e300`, []string{"argument 1: want a number within float32's range, got -1e300"}},
	} {
		assert.Equal(t, tc.want, checkParams(tc.json, f32), "%s", tc.json)
		p, err := paramsFromJSON(tc.json)
		require.NoError(t, err)
		var args []float32 // the params array, decoded as the server decodes values
		assert.Equal(t, tc.want == nil, codec.Unmarshal(p, &args) == nil, "the server's decoding agrees: %s", tc.json)
	}
}

// v19Shapes has the shapes whose bounds the schema states (a Go array's
// length, a map's key type) and JSON can miss.
type v19Shapes struct {
	M map[int]string
	A [2]int
	B [4]byte
}

// TestVaudit19ArraysAndKeysChecked: "It refuses what the server would
// refuse": a Go array given more values than its length, and a map whose
// keys are not strings (JSON's keys always are, and go out as strings),
// which the server refuses, were passed by the check.
func TestVaudit19ArraysAndKeysChecked(t *testing.T) {
	g := introspect.NewGenerator()
	d := &introspect.Description{Name: "S.M", Args: g.SchemaOf(reflect.TypeFor[v19Shapes]())}
	d.Defs = g.Defs()
	for _, tc := range []struct {
		json string
		want []string
	}{
		{`{"M": {"1": "a"}}`, []string{`field M["1"]: want an integer, got "1"`}},
		{`{"M": {}}`, nil},
		{`{"A": [1, 2, 3]}`, []string{"field A: too many values: want at most 2, got 3"}},
		{`{"A": [1, 2]}`, nil},
		{`{"A": [1]}`, nil},
		{`{"B": "abcde"}`, []string{"field B: want at most 4 bytes, got 5"}},
		{`{"B": "abcd"}`, nil},
	} {
		assert.Equal(t, tc.want, checkParams(tc.json, d), "%s", tc.json)
		p, err := paramsFromJSON(tc.json)
		require.NoError(t, err)
		var args []v19Shapes // the params array, decoded as the server decodes values
		assert.Equal(t, tc.want == nil, codec.Unmarshal(p, &args) == nil, "the server's decoding agrees: %s", tc.json)
	}
}
