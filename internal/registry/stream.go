package registry

import (
	"context"
	"fmt"
	"io"
	"reflect"

	"github.com/ferryrpc/ferry"
)

// HasStreams reports whether any streaming method is registered.
func (r *Registry) HasStreams() bool {
	for _, m := range *r.methods.Load() {
		if !m.Unary() {
			return true
		}
	}
	return false
}

// recvFunc returns a typed receive over st.
func recvFunc[Req any](st ferry.ServerStream) func() (*Req, error) {
	return func() (*Req, error) {
		m := new(Req)
		if err := st.Recv(m); err != nil {
			return nil, err
		}
		return m, nil
	}
}

// Bidi builds a typed bidirectional streaming method: fn receives with
// recv (io.EOF after the caller's CloseSend) and sends with send.
func Bidi[Req, Resp any](name string, fn func(ctx context.Context, recv func() (*Req, error), send func(*Resp) error) error) *Method {
	return Streaming(name, ferry.BidiStreaming, reflect.TypeFor[Req](), reflect.TypeFor[Resp](), func(ctx context.Context, st ferry.ServerStream) (any, error) {
		return nil, fn(ctx, recvFunc[Req](st), func(m *Resp) error { return st.Send(m) })
	})
}

// ServerStream builds a typed server-streaming method: it reads exactly
// one request (CodeInvalidArgument if the stream ends without one) and fn
// sends any number of responses.
func ServerStream[Req, Resp any](name string, fn func(ctx context.Context, req *Req, send func(*Resp) error) error) *Method {
	return Streaming(name, ferry.ServerStreaming, reflect.TypeFor[Req](), reflect.TypeFor[Resp](), func(ctx context.Context, st ferry.ServerStream) (any, error) {
		req := new(Req)
		if err := st.Recv(req); err != nil {
			if err == io.EOF {
				return nil, ferry.NewError(ferry.CodeInvalidArgument, "the stream carried no request")
			}
			return nil, err
		}
		return nil, fn(ctx, req, func(m *Resp) error { return st.Send(m) })
	})
}

// ClientStream builds a typed client-streaming method: fn receives any
// number of requests with recv (io.EOF after the last) and returns the
// one response.
func ClientStream[Req, Resp any](name string, fn func(ctx context.Context, recv func() (*Req, error)) (*Resp, error)) *Method {
	return Streaming(name, ferry.ClientStreaming, reflect.TypeFor[Req](), reflect.TypeFor[Resp](), func(ctx context.Context, st ferry.ServerStream) (any, error) {
		resp, err := fn(ctx, recvFunc[Req](st))
		if err != nil || resp == nil {
			return nil, err
		}
		return resp, nil
	})
}

// NilHandler is the error for a typed handler registered as nil.
func NilHandler(name string) error {
	return fmt.Errorf("ferry: method %q: nil handler", name)
}

// CheckStream checks what every streaming registration needs besides a
// valid name: a known kind and a handler.
func CheckStream(name string, kind ferry.StreamKind, fn ferry.StreamHandler) error {
	if kind < ferry.BidiStreaming || kind > ferry.ClientStreaming {
		return fmt.Errorf("ferry: stream method %q: invalid kind %d", name, int(kind))
	}
	if fn == nil {
		return fmt.Errorf("ferry: stream method %q: nil handler", name)
	}
	return nil
}
