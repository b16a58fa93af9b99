// Package registry maps "Service.Method" names to handlers, unary and
// streaming in one table: a name is checked once and belongs to one kind.
// Servers and clients (for calls in the other direction) both keep one;
// the call engine looks unary methods up in it for every incoming request,
// and the stream server for every incoming stream.
package registry

import (
	"context"
	"errors"
	"fmt"
	"go/token"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
)

// Method is one callable method: unary (Call is set) or streaming
// (Stream is set).
type Method struct {
	Name      string
	NewArgs   func() any          // a fresh pointer to decode arguments into
	Call      ferry.Handler       // runs a unary method on decoded arguments
	Kind      ferry.StreamKind    // a streaming method's kind; 0 for a unary one
	Stream    ferry.StreamHandler // runs a streaming method
	ArgsType  reflect.Type        // the arguments' type, for introspection (a stream's request messages'); nil when untyped
	ReplyType reflect.Type        // the reply's type, not a pointer (a stream's response messages')
	amplify   atomic.Int32        // DecodeCost's factor and boxesFlag, once computed
	shape     argShape            // how params map onto ArgsType; set by Add
}

// Registry is a copy-on-write method table: lookups take no lock.
type Registry struct {
	mu      sync.Mutex
	methods atomic.Pointer[map[string]*Method]
}

// New returns an empty registry.
func New() *Registry {
	r := &Registry{}
	m := map[string]*Method{}
	r.methods.Store(&m)
	return r
}

// Lookup returns the method called name, or nil. The byte slice form avoids
// an allocation per call.
func (r *Registry) Lookup(name []byte) *Method {
	return (*r.methods.Load())[string(name)]
}

// All returns the registered methods (unordered).
func (r *Registry) All() []*Method {
	m := *r.methods.Load()
	out := make([]*Method, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Add registers methods atomically: all or none.
func (r *Registry) Add(ms ...*Method) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.methods.Load()
	next := make(map[string]*Method, len(old)+len(ms))
	for k, v := range old {
		next[k] = v
	}
	for _, m := range ms {
		if err := checkName(m.Name); err != nil {
			return err
		}
		if prev, dup := next[m.Name]; dup {
			return fmt.Errorf("ferry: method %q is already registered (as a %s method)", m.Name, prev.KindName())
		}
		m.shape = shapeOf(m.ArgsType)
		next[m.Name] = m
	}
	r.methods.Store(&next)
	return nil
}

// Streaming builds a streaming Method. args and reply are the types of its
// request and response messages, nil when untyped.
func Streaming(name string, kind ferry.StreamKind, args, reply reflect.Type, fn ferry.StreamHandler) *Method {
	return &Method{Name: name, Kind: kind, Stream: fn, ArgsType: args, ReplyType: reply}
}

// Unary reports whether m is a unary method.
func (m *Method) Unary() bool { return m.Stream == nil }

// KindName returns "unary", or a streaming method's kind: "bidi",
// "server" or "client".
func (m *Method) KindName() string {
	if m.Unary() {
		return "unary"
	}
	return m.Kind.String()
}

func checkName(name string) error {
	if name == "" || strings.HasPrefix(name, "$") {
		return fmt.Errorf("ferry: invalid method name %q (empty, or the reserved prefix $)", name)
	}
	for _, c := range name {
		if c < 0x21 || c == 0x7f {
			return fmt.Errorf("ferry: method name %q has a space or control character", name)
		}
	}
	return nil
}

// Typed builds a Method from a generic function.
func Typed[Req, Resp any](name string, fn func(context.Context, *Req) (*Resp, error)) *Method {
	return &Method{
		Name:      name,
		ArgsType:  reflect.TypeFor[Req](),
		ReplyType: reflect.TypeFor[Resp](),
		NewArgs:   func() any { return new(Req) },
		Call: func(ctx context.Context, args any) (any, error) {
			resp, err := fn(ctx, args.(*Req))
			if err != nil || resp == nil {
				return nil, err
			}
			return resp, nil
		},
	}
}

var (
	ctxType   = reflect.TypeOf((*context.Context)(nil)).Elem()
	errorType = reflect.TypeOf((*error)(nil)).Elem()
)

// Reflect builds the methods of rcvr, net/rpc style: every exported method
// of the shape M(ctx, args A, reply *R) error or M(args A, reply *R) error
// becomes "name.M" (name defaults to the receiver's type name). A method of
// another shape is an error that names it.
func Reflect(name string, rcvr any) ([]*Method, error) {
	if rcvr == nil {
		return nil, errors.New("ferry: Register of a nil receiver")
	}
	v := reflect.ValueOf(rcvr)
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, errors.New("ferry: Register of a nil receiver")
	}
	t := v.Type()
	if name == "" {
		name = reflect.Indirect(v).Type().Name()
		if name == "" {
			return nil, fmt.Errorf("ferry: receiver of type %s has no name; use RegisterName", t)
		}
		if !token.IsExported(name) {
			return nil, fmt.Errorf("ferry: type %s is not exported; use RegisterName", name)
		}
	}
	var out []*Method
	var bad []string
	for i := 0; i < t.NumMethod(); i++ {
		m := t.Method(i)
		meth, err := reflectMethod(name, v, m)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, meth)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("ferry: %s: %s", name, strings.Join(bad, "; "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("ferry: type %s has no exported methods", name)
	}
	return out, nil
}

func reflectMethod(service string, rcvr reflect.Value, m reflect.Method) (*Method, error) {
	mt := m.Type // includes the receiver
	withCtx := mt.NumIn() == 4 && mt.In(1) == ctxType
	if !withCtx && mt.NumIn() != 3 {
		return nil, fmt.Errorf("method %s has %d parameters; want (ctx, args, *reply) or (args, *reply)", m.Name, mt.NumIn()-1)
	}
	argsT := mt.In(mt.NumIn() - 2)
	replyT := mt.In(mt.NumIn() - 1)
	if replyT.Kind() != reflect.Pointer {
		return nil, fmt.Errorf("method %s: reply type %s is not a pointer", m.Name, replyT)
	}
	if mt.NumOut() != 1 || mt.Out(0) != errorType {
		return nil, fmt.Errorf("method %s must return exactly error", m.Name)
	}
	if argsT == ctxType {
		return nil, fmt.Errorf("method %s: args may not be a context", m.Name)
	}
	argIsPtr := argsT.Kind() == reflect.Pointer
	newArgs := func() any {
		if argIsPtr {
			return reflect.New(argsT.Elem()).Interface()
		}
		return reflect.New(argsT).Interface()
	}
	var call ferry.Handler
	if argIsPtr {
		call = directCall(service+"."+m.Name, rcvr, m, withCtx, argsT, replyT.Elem())
	} else {
		call = valueCall(service+"."+m.Name, rcvr, m.Func, withCtx, argsT, replyT.Elem())
	}
	return &Method{Name: service + "." + m.Name, NewArgs: newArgs, Call: call, ArgsType: argsT, ReplyType: replyT.Elem()}, nil
}
