package e2e_test

// The audit of the core packages' docs (see pkgdocs_audit_test.go): how
// arguments are decoded (numbers never guessed) and passed through.

import (
	"context"
	"math"
	"reflect"
	"sync"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditNumbersNeverGuessed checks server's and codec's docs on
// arguments: "Numbers convert only when exact: 4.0 fits an int, 3.5 does
// not; a negative never fits an unsigned type; a string never fits a
// number", "an integer a float holds exactly" (and no other), a float
// into a float32 "rounded to the nearest float32 (refused past its
// range)", refused "as
// CodeInvalidArgument ... and the handler does not run"; "more [positional
// params than fields] is refused".
func TestAuditNumbersNeverGuessed(t *testing.T) {
	var got []auditNums
	var mu sync.Mutex
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "N.Take", func(ctx context.Context, a *auditNums) (*int, error) {
			mu.Lock()
			got = append(got, *a)
			mu.Unlock()
			n := 0
			return &n, nil
		}))
	})
	ctx := t.Context()
	ok := []map[string]any{
		{"I": 4.0},
		{"I": float32(-8)},
		{"U": 255},
		{"U": 3.0},
		{"F": int64(1 << 53)},
		{"F32": int64(1 << 24)},
		{"F": float32(0.5)},
		{"F32": 0.1},
	}
	for _, args := range ok {
		assert.NoError(t, c.Call(ctx, "N.Take", args, nil), "%v", args)
	}
	bad := []map[string]any{
		{"I": 3.5},
		{"I": float32(0.25)},
		{"I": math.Inf(1)},
		{"I": math.NaN()},
		{"I": 1e19},
		{"I": uint64(math.MaxUint64)},
		{"I": "12"},
		{"I": true},
		{"U": 256},
		{"U": -1},
		{"U": 1.5},
		{"F": int64(1<<53 + 1)},
		{"F32": int64(1<<24 + 1)},
		{"F32": math.MaxFloat64},
		{"F": "1.5"},
	}
	for _, args := range bad {
		err := c.Call(ctx, "N.Take", args, nil)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v: %v", args, err)
	}
	err := c.Call(ctx, "N.Take", client.Params{1, 2, 3, 4, 5}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "more params than fields: %v", err)
	err = c.Call(ctx, "N.Take", client.Params{3.5}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "3.5")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, len(ok), "the handler never ran for a refused call")
	assert.Equal(t, int64(4), got[0].I)
	assert.Equal(t, int64(-8), got[1].I)
	assert.Equal(t, uint8(255), got[2].U)
	assert.Equal(t, uint8(3), got[3].U)
	assert.Equal(t, float64(1<<53), got[4].F)
	assert.Equal(t, float32(1<<24), got[5].F32)
	assert.Equal(t, 0.5, got[6].F)
	assert.Equal(t, float32(0.1), got[7].F32, "a float into a float32 is rounded")
}

// TestAuditCodecExactness checks codec's rules with Unmarshal directly:
// "an integer a float holds exactly" into a float, and no other, while "a float
// into a float32 is rounded to the nearest float32 (refused past its
// range)"; a struct
// takes "an array of its fields in order, no longer than the struct";
// strings "never [share memory] with the input"; "An extension value
// where a map is expected is an error".
func TestAuditCodecExactness(t *testing.T) {
	enc := func(v any) []byte {
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		return b
	}
	var f64 float64
	assert.ErrorIs(t, codec.Unmarshal(enc(int64(1<<53+1)), &f64), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(enc(uint64(math.MaxUint64)), &f64), codec.ErrDecode)
	require.NoError(t, codec.Unmarshal(enc(int64(-1<<53)), &f64))
	assert.Equal(t, float64(-1<<53), f64)
	var f32 float32
	assert.ErrorIs(t, codec.Unmarshal(enc(int64(1<<24+1)), &f32), codec.ErrDecode)
	require.NoError(t, codec.Unmarshal(enc(0.1), &f32), "a float into a float32 is rounded")
	assert.Equal(t, float32(0.1), f32)
	assert.ErrorIs(t, codec.Unmarshal(enc(1e39), &f32), codec.ErrDecode, "past float32's range")
	var i int64
	assert.ErrorIs(t, codec.Unmarshal(enc(math.NaN()), &i), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(enc(9.3e18), &i), codec.ErrDecode, "past MaxInt64")
	assert.ErrorIs(t, codec.Unmarshal(enc(uint64(math.MaxUint64)), &i), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(enc(true), &i), codec.ErrDecode)
	var s string
	assert.ErrorIs(t, codec.Unmarshal(enc(5), &s), codec.ErrDecode, "a number is not a string")

	var n auditNums
	require.NoError(t, codec.Unmarshal(enc([]any{1, 2}), &n))
	assert.Equal(t, auditNums{I: 1, U: 2}, n)
	assert.ErrorIs(t, codec.Unmarshal(enc([]any{1, 2, 3, 4, 5}), &n), codec.ErrDecode, "longer than the struct")

	in := enc(map[string]string{"k": "value-that-is-kept"})
	var m map[string]string
	require.NoError(t, codec.Unmarshal(in, &m))
	for j := range in {
		in[j] = 'x'
	}
	assert.Equal(t, map[string]string{"k": "value-that-is-kept"}, m, "strings never share the input")

	ext := []byte{0xd4, 0x05, 0x00} // fixext1, type 5
	assert.Error(t, codec.Unmarshal(ext, &m), "an extension where a map is expected")
	var st struct{ A int }
	assert.Error(t, codec.Unmarshal(ext, &st), "an extension where a struct's map is expected")
	var raw codec.Raw
	require.NoError(t, codec.Unmarshal(ext, &raw))
	assert.Equal(t, ext, []byte(raw))
}

// TestAuditRawRoundTrip checks codec.Raw: it "carries a msgpack value
// through unchanged, so a handler can accept and return values of any
// shape (str and bin kept apart, integer map keys, extension types)".
func TestAuditRawRoundTrip(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "E.Echo", func(ctx context.Context, r *codec.Raw) (*codec.Raw, error) {
			return r, nil
		}))
	})
	for name, v := range map[string][]byte{
		"str":         {0xa2, 'h', 'i'},
		"bin":         {0xc4, 0x02, 'h', 'i'},
		"int map key": {0x81, 0x07, 0xa1, 'x'},
		"ext":         {0xd6, 0x09, 1, 2, 3, 4},
		"nested":      {0x92, 0xc4, 0x00, 0x81, 0xff, 0xc0},
	} {
		var back codec.Raw
		require.NoError(t, c.Call(t.Context(), "E.Echo", codec.Raw(v), &back), name)
		assert.Equal(t, v, []byte(back), name)
	}
}

// TestAuditInterceptorArgs checks ferry.Handler: "args is a pointer to the
// decoded arguments", as a server interceptor sees it, for Handle and for
// a net/rpc-style method taking its arguments by value.
func TestAuditInterceptorArgs(t *testing.T) {
	types := make(chan string, 2)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "N.Take", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }))
		require.NoError(t, s.RegisterName("M", auditRcvr{}))
	}, server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		types <- reflect.TypeOf(args).String()
		return next(ctx, args)
	}))
	require.NoError(t, c.Call(t.Context(), "N.Take", auditNums{I: 1}, nil))
	assert.Equal(t, "*e2e_test.auditNums", <-types)
	var n int
	require.NoError(t, c.Call(t.Context(), "M.Do", 4, &n))
	assert.Equal(t, "*int", <-types)
	assert.Equal(t, 8, n)
}
