package registry

import (
	"context"
	"reflect"
	"sync"
	"unsafe"

	"github.com/ferryrpc/ferry"
)

// How a net/rpc-style method is called. reflect.Value.Call costs about
// half a microsecond and four allocations per call (its argument and
// result slices, the error it returns, and the context whose address it
// needs), so the two shapes are called two ways, chosen at registration:
//
//   - args by pointer, M([ctx,] *A, *R) error: a direct call of the
//     method expression as a Go func value whose pointer parameter types
//     are retyped (see retype); no allocation but the reply.
//   - args by value, M([ctx,] A, *R) error: reflect.Value.Call, with the
//     argument slice and the context's slot reused from a pool per method;
//     Call still allocates its result slice and the error it returns.

// ptrInvoke runs a method on args and reply, both pointers to the
// method's types.
type ptrInvoke func(ctx context.Context, args, reply unsafe.Pointer) error

// retype stores the func value fn in the func variable *dst (a pointer to
// a variable of func type) of another type. It is sound only when both
// types pass their arguments and results identically: here every
// parameter retyped is a pointer (*T as unsafe.Pointer), which the Go
// calling convention passes exactly like any other pointer, and the
// context and the error result keep their types. The garbage collector
// sees unsafe.Pointer as a pointer, so the values stay alive and traced.
func retype(dst any, fn reflect.Value) {
	reflect.NewAt(fn.Type(), reflect.ValueOf(dst).UnsafePointer()).Elem().Set(fn)
}

// directCall calls a method whose args and reply are pointers without
// reflect.Value.Call: the method expression of the receiver's pointer type
// with the receiver's pointer. A value receiver is copied once into a
// pointer of its own, and the method expression of that pointer type
// copies it again for every call, as a call of the value's method would.
func directCall(name string, rcvr reflect.Value, m reflect.Method, withCtx bool, argsT, replyT reflect.Type) ferry.Handler {
	if rcvr.Kind() != reflect.Pointer {
		p := reflect.New(rcvr.Type())
		p.Elem().Set(rcvr)
		rcvr = p
		m, _ = p.Type().MethodByName(m.Name)
	}
	rp := rcvr.UnsafePointer()
	var inv ptrInvoke
	if withCtx {
		var f func(rcvr unsafe.Pointer, ctx context.Context, args, reply unsafe.Pointer) error
		retype(&f, m.Func)
		inv = func(ctx context.Context, args, reply unsafe.Pointer) error { return f(rp, ctx, args, reply) }
	} else {
		var f func(rcvr, args, reply unsafe.Pointer) error
		retype(&f, m.Func)
		inv = func(_ context.Context, args, reply unsafe.Pointer) error { return f(rp, args, reply) }
	}
	return func(ctx context.Context, args any) (any, error) {
		if reflect.TypeOf(args) != argsT { // a pointer of another type would be read as *A
			return nil, badArgs(name, args, argsT)
		}
		reply := reflect.New(replyT)
		if err := inv(ctx, reflect.ValueOf(args).UnsafePointer(), reply.UnsafePointer()); err != nil {
			return nil, err
		}
		return reply.Interface(), nil
	}
}

// frame is the argument slice of one reflect.Value.Call, kept for reuse:
// in[1] points at ctx, for a method that takes a context.
type frame struct {
	ctx context.Context
	in  [4]reflect.Value
}

// valueCall calls a method whose args are a value through
// reflect.Value.Call, with frames from a pool.
func valueCall(name string, rcvr, fn reflect.Value, withCtx bool, argsT, replyT reflect.Type) ferry.Handler {
	n, argsPtr := 3, reflect.PointerTo(argsT)
	if withCtx {
		n = 4
	}
	frames := &sync.Pool{New: func() any {
		f := &frame{}
		f.in[0] = rcvr
		if withCtx {
			f.in[1] = reflect.ValueOf(&f.ctx).Elem()
		}
		return f
	}}
	return func(ctx context.Context, args any) (any, error) {
		if reflect.TypeOf(args) != argsPtr {
			return nil, badArgs(name, args, argsPtr)
		}
		av := reflect.ValueOf(args)
		if av.IsNil() {
			return nil, badArgs(name, args, argsPtr)
		}
		reply := reflect.New(replyT)
		f := frames.Get().(*frame)
		f.ctx = ctx
		f.in[n-2], f.in[n-1] = av.Elem(), reply
		out := fn.Call(f.in[:n])
		f.ctx, f.in[n-2], f.in[n-1] = nil, reflect.Value{}, reflect.Value{}
		frames.Put(f)
		if e := out[0]; !e.IsNil() {
			return nil, e.Interface().(error)
		}
		return reply.Interface(), nil
	}
}

// badArgs is the error of a call whose args an interceptor replaced by a
// value of another type.
func badArgs(name string, args any, want reflect.Type) error {
	return ferry.Errorf(ferry.CodeInternal, "%s: arguments of type %T, want %s", name, args, want)
}
