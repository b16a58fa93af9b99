package main

import (
	"encoding/hex"
	"math"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func compact(t *testing.T, v []byte, o jsonOptions) string {
	t.Helper()
	out, err := toJSON(v, o)
	require.NoError(t, err)
	return string(out)
}

func mp(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func TestToJSONScalars(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{unhex(t, "c0"), "null"},
		{unhex(t, "c3"), "true"},
		{unhex(t, "7f"), "127"},
		{unhex(t, "e0"), "-32"},
		{unhex(t, "cfffffffffffffffff"), "18446744073709551615"}, // uint64 max, exact
		{unhex(t, "d38000000000000000"), "-9223372036854775808"}, // int64 min, exact
		{unhex(t, "d0ff"), "-1"},
		{unhex(t, "d1ff00"), "-256"},
		{unhex(t, "cd0100"), "256"},
		{mp(t, 1.5), "1.5"},
		{mp(t, float32(0.1)), "0.1"}, // shortest float32 form, not 0.10000000149
		{mp(t, math.NaN()), `"NaN"`},
		{mp(t, math.Inf(1)), `"Infinity"`},
		{mp(t, math.Inf(-1)), `"-Infinity"`},
		{mp(t, "tab\there \"q\" \\ \x01 <&> é"), `"tab\there \"q\" \\ \u0001 <&> é"`},
		{unhex(t, "a2ff41"), `"\ufffdA"`}, // invalid UTF-8
		{mp(t, time.Date(2024, 5, 6, 7, 8, 9, 123, time.UTC)), `"2024-05-06T07:08:09.000000123Z"`},
		{unhex(t, "d6ff00000001"), `"1970-01-01T00:00:01Z"`}, // timestamp 32
		{unhex(t, "d40501"), `{"$ext":5,"data":"AQ=="}`},     // Neovim's Buffer 1
		{unhex(t, "c70300aabbcc"), `{"$ext":0,"data":"qrvM"}`},
	} {
		assert.Equal(t, tc.want, compact(t, tc.in, jsonOptions{}), "% x", tc.in)
	}
}

func TestToJSONBin(t *testing.T) {
	b := mp(t, []byte("hi\x00"))
	assert.Equal(t, `"aGkA"`, compact(t, b, jsonOptions{}))
	assert.Equal(t, `"686900"`, compact(t, b, jsonOptions{bin: "hex"}))
	assert.Equal(t, `"hi\u0000"`, compact(t, b, jsonOptions{bin: "string"}))
}

func TestToJSONMapsKeepWireOrderAndStringifyKeys(t *testing.T) {
	// {"b": 1, "a": 2} in that order, then a map with keys 1, true, nil,
	// [1,2], bin "k" and 1.5.
	in := unhex(t, "82a16201a16102")
	assert.Equal(t, `{"b":1,"a":2}`, compact(t, in, jsonOptions{}))
	in = unhex(t, "86"+"01a178"+"c3a179"+"c0a17a"+"920102a177"+"c4016ba176"+mpHex(t, 1.5)+"a175")
	assert.Equal(t, `{"1":"x","true":"y","null":"z","[1,2]":"w","aw==":"v","1.5":"u"}`, compact(t, in, jsonOptions{}))
}

func mpHex(t *testing.T, v any) string { return hex.EncodeToString(mp(t, v)) }

func TestToJSONIndentsAndRejectsBadInput(t *testing.T) {
	out, err := toJSON(mp(t, map[string]any{"a": []int{1}}), jsonOptions{indent: true})
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"a\": [\n    1\n  ]\n}", string(out))

	for _, bad := range []string{"", "c1", "92", "dc0005", "c0c0", "dd7fffffff"} {
		_, err := toJSON(unhex(t, bad), jsonOptions{})
		assert.Error(t, err, bad)
	}
}

func TestFromJSON(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{`null`, nil},
		{`true`, true},
		{`-1`, int64(-1)},
		{`9223372036854775807`, uint64(math.MaxInt64)}, // positive integers use msgpack's uint formats
		{`18446744073709551615`, uint64(math.MaxUint64)},
		{`1.25`, 1.25},
		{`1e3`, 1000.0},
		{`"é\n"`, "é\n"},
		{`[1,"a",[]]`, []any{int64(1), "a", []any{}}},
	} {
		b, err := fromJSON([]byte(tc.in))
		require.NoError(t, err, tc.in)
		var got any
		require.NoError(t, codec.Unmarshal(b, &got), tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}

	// Object keys keep their order on the wire.
	b, err := fromJSON([]byte(`{"z":1,"a":2,"m":{"y":1,"b":2}}`))
	require.NoError(t, err)
	assert.Equal(t, `{"z":1,"a":2,"m":{"y":1,"b":2}}`, compact(t, b, jsonOptions{}))

	// uint64 goes out as uint64, not float64: the bytes say so.
	b, err = fromJSON([]byte(`18446744073709551615`))
	require.NoError(t, err)
	assert.Equal(t, "cfffffffffffffffff", hex.EncodeToString(b))

	for _, bad := range []string{`18446744073709551616`, `-9223372036854775809`, `[1,]`, `1 2`, `{"a"}`, ``} {
		_, err := fromJSON([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestParamsFromJSON(t *testing.T) {
	for in, want := range map[string]string{
		``:        "90",
		`  `:      "90",
		`[]`:      "90",
		`[3,4]`:   "920304",
		`5`:       "9105",
		`{"a":1}`: "9181a16101",
		`[[1]]`:   "919101",
		`"x"`:     "91a178",
		`null`:    "91c0",
	} {
		b, err := paramsFromJSON(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, hex.EncodeToString(b), in)
	}
}

// TestJSONRoundTrip sends JSON through msgpack and back.
func TestJSONRoundTrip(t *testing.T) {
	for _, in := range []string{
		`{"name":"ferry","ids":[1,2,3],"nested":{"ok":true,"none":null},"f":-0.5}`,
		`[18446744073709551615,-9223372036854775808,0,"",[],{}]`,
	} {
		b, err := fromJSON([]byte(in))
		require.NoError(t, err)
		assert.Equal(t, in, compact(t, b, jsonOptions{}))
	}
}
