package codec_test

import (
	"math"
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestVaudit24NumbersNeverGuessed: the package doc's "Decoding never
// guesses" paragraph and Unmarshal's doc, one sentence at a time.
func TestVaudit24NumbersNeverGuessed(t *testing.T) {
	type pair struct{ A, B int }
	refused := []struct {
		name string
		in   any
		into func() any
	}{
		{"[3.5,4] into []int", []any{3.5, 4}, func() any { return new([]int) }},
		{"[3.5,4] into a struct of ints", []any{3.5, 4}, func() any { return new(pair) }},
		{"3.5 into an int", 3.5, func() any { return new(int) }},
		{"float32 3.5 into an int", float32(3.5), func() any { return new(int) }},
		{"3.5 into an int in any-typed map value", map[string]any{"A": 3.5}, func() any { return new(pair) }},
		{"300 into an int8", 300, func() any { return new(int8) }},
		{"-1 into a uint", -1, func() any { return new(uint) }},
		{"-1.0 into a uint", -1.0, func() any { return new(uint) }},
		{"2^53+1 into a float64", int64(1<<53 + 1), func() any { return new(float64) }},
		{"2^24+1 into a float32", int64(1<<24 + 1), func() any { return new(float32) }},
		{"1e300 into a float32", 1e300, func() any { return new(float32) }},
		{"a string into an int", "4", func() any { return new(int) }},
		{"a string into a float", "4", func() any { return new(float64) }},
		{"NaN into an int", math.NaN(), func() any { return new(int) }},
		{"+Inf into an int", math.Inf(1), func() any { return new(int) }},
		{"1e19 into an int64", 1e19, func() any { return new(int64) }},
		{"max uint64 into an int64", uint64(math.MaxUint64), func() any { return new(int64) }},
		{"an array longer than the struct", []any{1, 2, 3}, func() any { return new(pair) }},
	}
	for _, tc := range refused {
		t.Run("refused/"+tc.name, func(t *testing.T) {
			err := codec.Unmarshal(mustMarshal(t, tc.in), tc.into())
			require.Error(t, err)
			assert.ErrorIs(t, err, codec.ErrDecode)
		})
	}

	var i int
	require.NoError(t, codec.Unmarshal(mustMarshal(t, 4.0), &i), "4.0 fits an int")
	assert.Equal(t, 4, i)
	var f32 float32
	require.NoError(t, codec.Unmarshal(mustMarshal(t, 0.1), &f32), "a float into a float32 is rounded")
	assert.Equal(t, float32(0.1), f32)
	var f64 float64
	require.NoError(t, codec.Unmarshal(mustMarshal(t, int64(1<<53)), &f64), "an integer a float holds exactly")
	assert.Equal(t, float64(1<<53), f64)
	var p pair
	require.NoError(t, codec.Unmarshal(mustMarshal(t, []any{1}), &p), "an array no longer than the struct")
	assert.Equal(t, pair{A: 1}, p)
	p = pair{A: 7}
	require.NoError(t, codec.Unmarshal(mustMarshal(t, nil), &p))
	assert.Equal(t, pair{}, p, "nil leaves the zero value")
	var ints []int
	require.NoError(t, codec.Unmarshal(mustMarshal(t, []any{3.0, 4}), &ints))
	assert.Equal(t, []int{3, 4}, ints)
}

// TestVaudit24UnmarshalContract: at most one value, a non-nil pointer,
// Raw's nil, and Marshal's refusal of a value that contains itself.
func TestVaudit24UnmarshalContract(t *testing.T) {
	var i int
	assert.Error(t, codec.Unmarshal([]byte{0x01, 0x02}, &i), "at most one value")
	assert.Error(t, codec.Unmarshal([]byte{0x01}, i), "not a pointer")
	assert.Error(t, codec.Unmarshal([]byte{0x01}, (*int)(nil)), "a nil pointer")
	assert.Error(t, codec.Unmarshal([]byte{0x01}, nil), "nil")
	b, err := codec.Marshal(codec.Raw(nil))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xc0}, b, "a nil Raw encodes as msgpack nil")
	n, err := codec.Validate([]byte{0x92, 0x01, 0x02, 0xff})
	require.NoError(t, err)
	assert.Equal(t, 3, n, "Validate returns the first value's length")
	_, err = codec.Validate([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	assert.Error(t, err, "a declared length beyond the bytes present")

	type node struct{ Next *node }
	loop := &node{}
	loop.Next = loop
	_, err = codec.Marshal(loop)
	assert.Error(t, err, "a value that contains itself")
	m := map[string]any{}
	m["m"] = m
	_, err = codec.Marshal(m)
	assert.Error(t, err, "a map that contains itself")

	type unknown struct{ A int }
	var u unknown
	require.NoError(t, codec.Unmarshal(mustMarshal(t, map[string]any{"A": 1, "Z": 2}), &u), "unknown keys beside a known one are skipped")
	assert.Equal(t, 1, u.A)
}

// TestVaudit24MarshalShapes: Marshal's promises: smallest integers,
// structs as maps keyed by field name or tag, msgpack's tag options, a
// depth bound of 10,000; Unmarshal's strings never share the input.
func TestVaudit24MarshalShapes(t *testing.T) {
	b, err := codec.Marshal(int64(1))
	require.NoError(t, err)
	assert.Equal(t, []byte{0x01}, b)
	b, err = codec.Marshal(uint64(200))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xcc, 200}, b)
	b, err = codec.Marshal(int32(-1))
	require.NoError(t, err)
	assert.Equal(t, []byte{0xff}, b)

	type tagged struct {
		A    int    `msgpack:"a"`
		B    string `msgpack:",omitempty"`
		Skip int    `msgpack:"-"`
	}
	b, err = codec.Marshal(tagged{A: 1, Skip: 9})
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, msgpack.Unmarshal(b, &m))
	assert.Equal(t, map[string]any{"a": int8(1)}, m)
	via, err := msgpack.Marshal(tagged{A: 1, Skip: 9})
	require.NoError(t, err)
	assert.Equal(t, via, b, "the same bytes as msgpack's reflection")

	type arr struct {
		//lint:ignore U1000 read by msgpack through its tag
		_msgpack struct{} `msgpack:",as_array"`
		X, Y     int
	}
	b, err = codec.Marshal(arr{X: 1, Y: 2})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x92, 0x01, 0x02}, b)

	deep := func(n int) any {
		var v any = 1
		for range n {
			v = []any{v}
		}
		return v
	}
	_, err = codec.Marshal(deep(10_000))
	assert.NoError(t, err, "10,000 deep")
	_, err = codec.Marshal(deep(10_001))
	assert.Error(t, err, "10,001 deep")

	in := mustMarshal(t, map[string]string{"k": "value"})
	var out map[string]string
	require.NoError(t, codec.Unmarshal(in, &out))
	for i := range in {
		in[i] = 'X'
	}
	assert.Equal(t, map[string]string{"k": "value"}, out, "strings never share memory with the input")
}

// TestVaudit24ReusedAnyTarget: Unmarshal into a variable that holds an
// earlier value takes the new one where the target is (or holds) an any:
// the any's old content is replaced, as encoding/json replaces it, unless
// it is a non-nil pointer, which is decoded through. Each case failed
// before ("Decode(non-pointer int64)", "unaddressable value").
func TestVaudit24ReusedAnyTarget(t *testing.T) {
	var a any
	for _, in := range []any{1, "two", []any{3}, map[string]any{"k": "v"}, nil, 2.5} {
		require.NoError(t, codec.Unmarshal(mustMarshal(t, in), &a), "%v", in)
		want, err := codec.Marshal(in)
		require.NoError(t, err)
		got, err := codec.Marshal(a)
		require.NoError(t, err)
		assert.Equal(t, want, got, "%v", in)
	}

	var l []any
	require.NoError(t, codec.Unmarshal(mustMarshal(t, []any{1, 2, 3}), &l))
	require.NoError(t, codec.Unmarshal(mustMarshal(t, []any{"x"}), &l))
	assert.Equal(t, []any{"x"}, l)
	require.NoError(t, codec.Unmarshal(mustMarshal(t, []any{4, 5}), &l), "elements past len, within cap")
	assert.Equal(t, []any{int64(4), int64(5)}, l)

	type doc struct {
		K    string
		D    any
		Next *doc
	}
	d := doc{K: "a", D: 1}
	d.Next = &d // a cycle through the target
	require.NoError(t, codec.Unmarshal(mustMarshal(t, map[string]any{"K": "b", "D": "two"}), &d))
	assert.Equal(t, "b", d.K)
	assert.Equal(t, "two", d.D)

	n := 1
	var p any = &n
	require.NoError(t, codec.Unmarshal(mustMarshal(t, 7), &p))
	assert.Equal(t, 7, n, "a non-nil pointer is decoded through")
	arr := [2]any{1, 2}
	require.NoError(t, codec.Unmarshal(mustMarshal(t, []any{"a", "b"}), &arr))
	assert.Equal(t, [2]any{"a", "b"}, arr)
	m := map[string]any{"k": 1}
	require.NoError(t, codec.Unmarshal(mustMarshal(t, map[string]any{"k": "s"}), &m))
	assert.Equal(t, map[string]any{"k": "s"}, m)
}
