package e2e_test

import (
	"context"
	"math"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type v13Inner struct{ X, Y int8 }

type v13Args struct {
	N   int32
	In  v13Inner
	P   *v13Inner
	Arr [2]int
	S   []uint16
	M   map[string]int
	B   bool
	Str string
	Bin []byte
}

type V13 struct{}

func (V13) Int(ctx context.Context, n int, reply *int) error        { *reply = n; return nil }
func (V13) Bool(ctx context.Context, b bool, reply *bool) error     { *reply = b; return nil }
func (V13) Ints(ctx context.Context, s []int, reply *int) error     { *reply = len(s); return nil }
func (V13) Two(ctx context.Context, a [2]int, reply *int) error     { *reply = a[0] + a[1]; return nil }
func (V13) Map(ctx context.Context, m map[int]string, r *int) error { *r = len(m); return nil }
func (V13) All(ctx context.Context, a *v13Args, reply *bool) error  { *reply = true; return nil }
func (V13) Str(ctx context.Context, s string, reply *string) error  { *reply = s; return nil }

// TestVreview13ArgumentsTakenOrRefused probes argument shapes past the
// documented examples, for net/rpc-style methods and typed handlers alike:
// every conversion that loses or guesses is refused with invalid_argument.
func TestVreview13ArgumentsTakenOrRefused(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.Register(V13{}))
	require.NoError(t, server.Handle(s, "T.Inner", func(ctx context.Context, in *v13Inner) (*int, error) {
		n := int(in.X) + int(in.Y)
		return &n, nil
	}))
	c := dialTCP(t, s)
	raw := func(v any) codec.Raw { return codec.Raw(mustMarshal(v)) }

	bad := []struct {
		method string
		args   any
	}{
		{"V13.Int", client.Params{3, 4}},     // extra param to a scalar
		{"V13.Int", client.Params{3.5}},      // fraction
		{"V13.Int", client.Params{true}},     // bool for a number
		{"V13.Int", client.Params{"3"}},      // str for a number
		{"V13.Int", client.Params{[]int{3}}}, // array for a scalar
		{"V13.Int", client.Params{map[string]int{"a": 1}}},
		{"V13.Int", client.Params{math.NaN()}},
		{"V13.Bool", client.Params{1}},
		{"V13.Bool", client.Params{"true"}},
		{"V13.Ints", client.Params{1, 2.5}},
		{"V13.Ints", client.Params{"x"}},
		{"V13.Two", client.Params{1, 2, 3}}, // too many for a fixed array
		{"V13.Two", raw([]any{[]int{1, 2, 3}})},
		{"V13.Map", client.Params{map[string]string{"a": "b"}}}, // str key for an int key
		{"V13.Map", client.Params{map[int]int{1: 2}}},           // int value for a str
		{"V13.Str", client.Params{5}},
		{"V13.All", map[string]any{"N": int64(math.MaxInt32) + 1}},
		{"V13.All", map[string]any{"In": []any{1, 2, 3}}},
		{"V13.All", map[string]any{"In": map[string]any{"X": 128}}},
		{"V13.All", map[string]any{"P": []any{-129}}},
		{"V13.All", map[string]any{"Arr": []any{1, 2, 3}}},
		{"V13.All", map[string]any{"S": []any{-1}}},
		{"V13.All", map[string]any{"S": []any{65536}}},
		{"V13.All", map[string]any{"M": map[string]any{"k": 1.5}}},
		{"V13.All", map[string]any{"B": 0}},
		{"V13.All", map[string]any{"Str": 1}},
		{"V13.All", map[string]any{"Bin": 1}},
		{"V13.All", map[string]any{"In": "x"}},
		{"V13.All", client.Params{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"V13.All", client.Params{"n"}},
		{"V13.All", client.Params{5}}, // first field, but int32 fits 5: fine? see ok below
		{"T.Inner", client.Params{1, 2, 3}},
		{"T.Inner", client.Params{1.5}},
		{"T.Inner", client.Params{200}},
		{"T.Inner", map[string]any{"x": 1}},
	}
	for _, b := range bad {
		var reply any
		err := c.Call(t.Context(), b.method, b.args, &reply)
		if b.method == "V13.All" {
			if p, ok := b.args.(client.Params); ok && len(p) == 1 && p[0] == 5 {
				assert.NoError(t, err, "[5] is the first field")
				continue
			}
		}
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s %#v: %v (reply %v)", b.method, b.args, err, reply)
	}

	ok := []struct {
		method string
		args   any
		want   any
	}{
		{"V13.Int", nil, int64(0)},
		{"V13.Int", client.Params{}, int64(0)},
		{"V13.Int", client.Params{nil}, int64(0)},
		{"V13.Int", client.Params{4.0}, int64(4)},
		{"V13.Int", client.Params{uint64(7)}, int64(7)},
		{"V13.Ints", client.Params{1, 2, 3}, int64(3)},
		{"V13.Ints", client.Params{[]int{1, 2}}, int64(2)},
		{"V13.Two", client.Params{1, 2}, int64(3)},
		{"V13.Str", client.Params{[]byte("bin")}, "bin"},
		{"T.Inner", client.Params{1, 2}, int64(3)},
		{"T.Inner", client.Params{-1}, int64(-1)},
		{"T.Inner", nil, int64(0)},
		{"V13.All", map[string]any{"In": []any{1, 2}, "P": []any{3}, "Bin": "s", "Str": []byte("b")}, true},
	}
	for _, o := range ok {
		var reply any
		err := c.Call(t.Context(), o.method, o.args, &reply)
		if assert.NoError(t, err, "%s %#v", o.method, o.args) {
			assert.EqualValues(t, o.want, reply, "%s %#v", o.method, o.args)
		}
	}
}

// TestVreview13RepliesTakenOrRefused: replies follow the same rules on the
// caller's side (PROTOCOL.md 2.1), through Call, Go, Invoke and Async:
// a reply that does not fit is internal, not flagged, and the connection
// goes on.
func TestVreview13RepliesTakenOrRefused(t *testing.T) {
	c := dialTCP(t, newServer(t))
	ctx := t.Context()
	var i8 int8
	err := c.Call(ctx, "Arith.Add", client.Params{300, 0}, &i8)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err))
	_, err = client.Invoke[uint](ctx, c, "Arith.Add", client.Params{-3, 1})
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	_, err = client.Async[string](ctx, c, "Arith.Add", client.Params{3, 1}).Wait()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	call := c.Go(ctx, "Echo.Echo", 2.5, new(int))
	<-call.Done()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(call.Err()), "%v", call.Err())
	var f32 float32
	err = c.Call(ctx, "Echo.Echo", math.MaxFloat64, &f32)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	var b bool
	err = c.Call(ctx, "Echo.Echo", 1, &b)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	sum, err := client.Invoke[int8](ctx, c, "Arith.Add", client.Params{100, 27})
	require.NoError(t, err, "the connection goes on")
	assert.Equal(t, int8(127), *sum)
}
