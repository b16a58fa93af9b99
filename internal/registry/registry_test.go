package registry_test

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"testing"

	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Args struct{ A, B int }

// Arith has both accepted shapes: with and without a context, args by
// value and by pointer.
type Arith struct{}

func (Arith) Add(args Args, reply *int) error { *reply = args.A + args.B; return nil }

func (Arith) Mul(ctx context.Context, args *Args, reply *int) error {
	*reply = args.A * args.B
	return ctx.Err()
}

func (Arith) Fail(args Args, reply *int) error { return errors.New("no") }

func names(ms []*registry.Method) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	sort.Strings(out)
	return out
}

func TestReflectAcceptsNetRPCShapes(t *testing.T) {
	ms, err := registry.Reflect("", &Arith{})
	require.NoError(t, err)
	assert.Equal(t, []string{"Arith.Add", "Arith.Fail", "Arith.Mul"}, names(ms))

	byName := map[string]*registry.Method{}
	for _, m := range ms {
		byName[m.Name] = m
	}
	add := byName["Arith.Add"]
	assert.Equal(t, reflect.TypeFor[Args](), add.ArgsType)
	assert.Equal(t, reflect.TypeFor[int](), add.ReplyType)
	args := add.NewArgs()
	require.IsType(t, &Args{}, args)
	*args.(*Args) = Args{A: 2, B: 3}
	reply, err := add.Call(t.Context(), args)
	require.NoError(t, err)
	assert.Equal(t, 5, *reply.(*int))

	mul := byName["Arith.Mul"]
	assert.Equal(t, reflect.TypeFor[*Args](), mul.ArgsType)
	reply, err = mul.Call(t.Context(), &Args{A: 2, B: 3})
	require.NoError(t, err)
	assert.Equal(t, 6, *reply.(*int))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = mul.Call(ctx, &Args{})
	assert.ErrorIs(t, err, context.Canceled, "the handler sees the call's context")

	_, err = byName["Arith.Fail"].Call(t.Context(), &Args{})
	assert.EqualError(t, err, "no")
}

func TestReflectName(t *testing.T) {
	ms, err := registry.Reflect("Calc", Arith{})
	require.NoError(t, err)
	assert.Equal(t, []string{"Calc.Add", "Calc.Fail", "Calc.Mul"}, names(ms))
}

type unexported struct{}

func (unexported) Add(args Args, reply *int) error { return nil }

type TooFew struct{}

func (TooFew) M(reply *int) error { return nil }

type NotPointerReply struct{}

func (NotPointerReply) M(args Args, reply int) error { return nil }

type WrongResult struct{}

func (WrongResult) M(args Args, reply *int) (int, error) { return 0, nil }

type CtxArgs struct{}

func (CtxArgs) M(ctx context.Context, reply *int) error { return nil }

type TwoBad struct{}

func (TwoBad) A(reply *int) error { return nil }

func (TwoBad) B(args Args, reply *int) {}

type NoMethods struct{}

// A method of another shape is an error naming it and saying why, never
// skipped.
func TestReflectRefuses(t *testing.T) {
	tests := []struct {
		name string
		rcvr any
		svc  string
		want string
	}{
		{"nil", nil, "", "ferry: Register of a nil receiver"},
		{"unexported type", unexported{}, "", "ferry: type unexported is not exported; use RegisterName"},
		{"unnamed type", struct{}{}, "", "ferry: receiver of type struct {} has no name; use RegisterName"},
		{"too few params", TooFew{}, "", "ferry: TooFew: method M has 1 parameters; want (ctx, args, *reply) or (args, *reply)"},
		{"reply not a pointer", NotPointerReply{}, "", "ferry: NotPointerReply: method M: reply type int is not a pointer"},
		{"two results", WrongResult{}, "", "ferry: WrongResult: method M must return exactly error"},
		{"ctx as args", CtxArgs{}, "", "ferry: CtxArgs: method M: args may not be a context"},
		{"every bad method listed", TwoBad{}, "", "ferry: TwoBad: method A has 1 parameters; want (ctx, args, *reply) or (args, *reply); method B must return exactly error"},
		{"no methods", NoMethods{}, "", "ferry: type NoMethods has no exported methods"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := registry.Reflect(tt.svc, tt.rcvr)
			assert.EqualError(t, err, tt.want)
			assert.Nil(t, ms)
		})
	}
	ms, err := registry.Reflect("Named", unexported{})
	require.NoError(t, err, "a name makes an unexported type usable")
	assert.Equal(t, []string{"Named.Add"}, names(ms))
}

func TestTyped(t *testing.T) {
	m := registry.Typed("S.Echo", func(_ context.Context, s *string) (*string, error) {
		if *s == "" {
			return nil, nil
		}
		return s, nil
	})
	assert.Equal(t, "S.Echo", m.Name)
	assert.Equal(t, reflect.TypeFor[string](), m.ArgsType)
	assert.Equal(t, reflect.TypeFor[string](), m.ReplyType)
	args := m.NewArgs().(*string)
	*args = "hi"
	reply, err := m.Call(t.Context(), args)
	require.NoError(t, err)
	assert.Equal(t, "hi", *reply.(*string))
	reply, err = m.Call(t.Context(), new(string))
	require.NoError(t, err)
	assert.Nil(t, reply, "a nil *Resp is a nil reply, not a typed nil")
}

func echo(name string) *registry.Method {
	return registry.Typed(name, func(_ context.Context, s *string) (*string, error) { return s, nil })
}

func TestAddAndLookup(t *testing.T) {
	r := registry.New()
	assert.Empty(t, r.All())
	require.NoError(t, r.Add(echo("S.A"), echo("S.B")))
	assert.Equal(t, "S.A", r.Lookup([]byte("S.A")).Name)
	assert.Nil(t, r.Lookup([]byte("S.C")))
	assert.Equal(t, []string{"S.A", "S.B"}, names(r.All()))
}

// Add is all or nothing: one bad name or a duplicate registers none.
func TestAddRefuses(t *testing.T) {
	tests := []struct {
		name string
		want string
	}{
		{"", `ferry: invalid method name "" (empty, or the reserved prefix $)`},
		{"$ferry.cancel", `ferry: invalid method name "$ferry.cancel" (empty, or the reserved prefix $)`},
		{"S.with space", `ferry: method name "S.with space" has a space or control character`},
		{"S.tab\t", `ferry: method name "S.tab\t" has a space or control character`},
		{"S.del\x7f", `ferry: method name "S.del\x7f" has a space or control character`},
		{"S.A", `ferry: method "S.A" is already registered (as a unary method)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := registry.New()
			require.NoError(t, r.Add(echo("S.A")))
			assert.EqualError(t, r.Add(echo("S.Fine"), echo(tt.name)), tt.want)
			assert.Nil(t, r.Lookup([]byte("S.Fine")), "a refused Add registered something")
			assert.Len(t, r.All(), 1)
		})
	}
	r := registry.New()
	assert.EqualError(t, r.Add(echo("S.X"), echo("S.X")), `ferry: method "S.X" is already registered (as a unary method)`)
	assert.Empty(t, r.All())
	require.NoError(t, r.Add(echo("S.ünïcode")), "non-ASCII names are allowed")
}
