package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type pair struct{ A, B int64 }

type ctxKey struct{}

// counter has every accepted shape, on a pointer receiver: it counts its
// calls, so a test sees that each call reached this receiver.
type counter struct{ n int }

func (c *counter) PtrCtx(ctx context.Context, args *pair, reply *int64) error {
	c.n++
	if ctx.Value(ctxKey{}) != nil {
		return errors.New("saw " + ctx.Value(ctxKey{}).(string))
	}
	*reply = args.A + args.B
	return nil
}

func (c *counter) Ptr(args *pair, reply *int64) error {
	c.n++
	*reply = args.A - args.B
	return nil
}

func (c *counter) ValCtx(ctx context.Context, args pair, reply *int64) error {
	c.n++
	if ctx.Value(ctxKey{}) != nil {
		return errors.New("saw " + ctx.Value(ctxKey{}).(string))
	}
	*reply = args.A * args.B
	return nil
}

func (c *counter) Val(args pair, reply *int64) error {
	c.n++
	*reply = args.A / args.B
	return nil
}

// valRecv has a value receiver that its methods modify: each call gets
// its own copy, as a call of a value's method does.
type valRecv struct{ base int64 }

func (v valRecv) PtrCtx(ctx context.Context, args *pair, reply *int64) error {
	v.base += args.A
	*reply = v.base
	return nil
}

func (v valRecv) Val(args pair, reply *int64) error {
	v.base += args.A
	*reply = v.base
	return nil
}

func methods(t testing.TB, name string, rcvr any) map[string]*registry.Method {
	t.Helper()
	ms, err := registry.Reflect(name, rcvr)
	require.NoError(t, err)
	out := map[string]*registry.Method{}
	for _, m := range ms {
		out[m.Name] = m
	}
	return out
}

func callInt(t *testing.T, m *registry.Method, ctx context.Context, a, b int64) (int64, error) {
	t.Helper()
	args := m.NewArgs()
	*args.(*pair) = pair{a, b}
	reply, err := m.Call(ctx, args)
	if err != nil {
		assert.Nil(t, reply)
		return 0, err
	}
	return *reply.(*int64), nil
}

// Every shape reaches the receiver with the call's context, arguments and
// a fresh reply, and returns the method's error.
func TestDispatchShapes(t *testing.T) {
	c := &counter{}
	ms := methods(t, "C", c)
	want := map[string]int64{"C.PtrCtx": 9, "C.Ptr": 3, "C.ValCtx": 18, "C.Val": 2}
	for name, w := range want {
		got, err := callInt(t, ms[name], t.Context(), 6, 3)
		require.NoError(t, err, name)
		assert.Equal(t, w, got, name)
	}
	assert.Equal(t, 4, c.n)

	ctx := context.WithValue(t.Context(), ctxKey{}, "ctx")
	for _, name := range []string{"C.PtrCtx", "C.ValCtx"} {
		_, err := callInt(t, ms[name], ctx, 1, 1)
		assert.EqualError(t, err, "saw ctx", name)
	}
}

// Two calls never share a reply value.
func TestDispatchFreshReplies(t *testing.T) {
	ms := methods(t, "C", &counter{})
	for _, name := range []string{"C.PtrCtx", "C.ValCtx"} {
		m := ms[name]
		r1, err := m.Call(t.Context(), &pair{1, 2})
		require.NoError(t, err)
		r2, err := m.Call(t.Context(), &pair{3, 4})
		require.NoError(t, err)
		assert.NotSame(t, r1, r2, name)
		assert.NotEqual(t, *r1.(*int64), *r2.(*int64), name)
	}
}

// A value receiver is copied for every call: what a method does to its
// copy is not seen by the next call.
func TestDispatchValueReceiver(t *testing.T) {
	ms := methods(t, "V", valRecv{base: 100})
	for _, name := range []string{"V.PtrCtx", "V.Val"} {
		for range 3 {
			got, err := callInt(t, ms[name], t.Context(), 5, 0)
			require.NoError(t, err, name)
			assert.Equal(t, int64(105), got, name)
		}
	}
}

// Arguments of another type (an interceptor replaced them) are an
// internal error, never reinterpreted; a nil pointer reaches the method.
func TestDispatchWrongArgs(t *testing.T) {
	ms := methods(t, "C", &counter{})
	for _, name := range []string{"C.PtrCtx", "C.Ptr", "C.ValCtx", "C.Val"} {
		for _, args := range []any{nil, &struct{ A, B int64 }{}, pair{}, new(int64)} {
			reply, err := ms[name].Call(t.Context(), args)
			assert.Nil(t, reply)
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%s %T", name, args)
			assert.ErrorContains(t, err, name+": arguments of type", name)
		}
	}
	assert.Panics(t, func() { _, _ = ms["C.Ptr"].Call(t.Context(), (*pair)(nil)) }, "the method dereferences nil")
}

// A call by pointer allocates only its reply; a call by value adds what
// reflect.Value.Call allocates (its result slice and error).
func TestDispatchAllocations(t *testing.T) {
	ms := methods(t, "C", &counter{})
	vs := methods(t, "V", valRecv{})
	ctx := t.Context()
	for _, tt := range []struct {
		m   *registry.Method
		max float64
	}{{ms["C.PtrCtx"], 1}, {ms["C.Ptr"], 1}, {vs["V.PtrCtx"], 1}, {ms["C.ValCtx"], 3}, {ms["C.Val"], 3}} {
		args := &pair{7, 1}
		got := testing.AllocsPerRun(200, func() {
			if _, err := tt.m.Call(ctx, args); err != nil {
				t.Fatal(err)
			}
		})
		assert.LessOrEqual(t, got, tt.max, tt.m.Name)
	}
	typed := registry.Typed("T.Add", func(ctx context.Context, p *pair) (*int64, error) {
		return nil, nil
	})
	args := &pair{}
	got := testing.AllocsPerRun(200, func() {
		if _, err := typed.Call(ctx, args); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, got, "a typed handler's dispatch allocates nothing")
}

// BenchmarkDispatch measures Method.Call alone for each shape.
func BenchmarkDispatch(b *testing.B) {
	ms := methods(b, "C", &counter{})
	ms["T.Add"] = registry.Typed("T.Add", func(ctx context.Context, p *pair) (*int64, error) {
		v := p.A + p.B
		return &v, nil
	})
	ctx := context.Background()
	for _, name := range []string{"T.Add", "C.PtrCtx", "C.Ptr", "C.ValCtx", "C.Val"} {
		b.Run(name, func(b *testing.B) {
			m := ms[name]
			args := m.NewArgs()
			*args.(*pair) = pair{7, 1}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.Call(ctx, args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
