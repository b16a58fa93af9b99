package codec_test

import (
	"testing"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/require"
)

// vr16Node is a list node: a pointer and a struct a level.
type vr16Node struct {
	V    int
	Next *vr16Node
}

// vr16Self encodes itself, so its cycle is never followed.
type vr16Self struct{ Me *vr16Self }

func (vr16Self) MarshalMsgpack() ([]byte, error) { return []byte{0xc0}, nil }

// TestVreview16MarshalNestingBound pins Marshal's doc: "A value that
// contains itself ... is an error, as is one more than 10,000 pointers and
// containers deep". Containers nested through interfaces (a []any in a
// []any) count once each, the interface holding them no level of its own,
// and the scalar in the last is no level either; a value reached twice without a cycle, nil containers and a type with
// its own encoder whose fields point at itself are no error.
func TestVreview16MarshalNestingBound(t *testing.T) {
	nestAny := func(n int) any {
		var v any = 1
		for range n {
			v = []any{v}
		}
		return v
	}
	_, err := codec.Marshal(nestAny(9_000))
	require.NoError(t, err, "9,000 slices deep")
	nestMap := func(n int) any {
		var v any = 1
		for range n {
			v = map[string]any{"a": v}
		}
		return v
	}
	_, err = codec.Marshal(nestMap(9_000))
	require.NoError(t, err, "9,000 maps deep")
	_, err = codec.Marshal(nestAny(10_000))
	require.NoError(t, err, "10,000 slices deep, a scalar in the last")
	_, err = codec.Marshal(nestAny(10_001))
	require.Error(t, err, "10,001 slices deep")

	var list *vr16Node
	for i := range 5_000 {
		list = &vr16Node{V: i, Next: list}
	}
	_, err = codec.Marshal(list)
	require.NoError(t, err, "5,000 nodes: 10,000 pointers and structs")
	_, err = codec.Marshal(&vr16Node{Next: list})
	require.Error(t, err, "5,001 nodes: 10,002 pointers and structs")

	shared := map[string]any{"k": []any{1, 2}}
	dag := []any{shared, shared, map[string]any{"x": shared, "y": shared}}
	b, err := codec.Marshal(dag)
	require.NoError(t, err, "a map reached four times, no cycle")
	var back []any
	require.NoError(t, codec.Unmarshal(b, &back))
	require.Len(t, back, 3)

	_, err = codec.Marshal([]any{nil, map[string]any(nil), []any(nil), (*vr16Node)(nil)})
	require.NoError(t, err, "nil interfaces, maps, slices, pointers")

	self := &vr16Self{}
	self.Me = self
	_, err = codec.Marshal([]any{self, *self})
	require.NoError(t, err, "a type with its own encoder is not looked into")
}
