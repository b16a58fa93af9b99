package client

import (
	"context"

	"github.com/ferryrpc/ferry"
)

// Invoke is Call with the reply type checked at compile time. c is any
// ferry.Caller: a *Client, the *Conn or server.Peer a handler calls back
// on, or a cluster.Client.
//
//	sum, err := client.Invoke[int](ctx, c, "Arith.Add", &Args{3, 4})
func Invoke[Resp any](ctx context.Context, c ferry.Caller, method string, args any) (*Resp, error) {
	r := new(Resp)
	if err := c.Call(ctx, method, args, r); err != nil {
		return nil, err
	}
	return r, nil
}

// Future is the typed result of Async.
type Future[T any] struct {
	call  *ferry.Call
	reply *T
}

// Async is Go with the reply type checked at compile time; c is any
// ferry.Caller, as for Invoke.
func Async[Resp any](ctx context.Context, c ferry.Caller, method string, args any) *Future[Resp] {
	r := new(Resp)
	return &Future[Resp]{call: c.Go(ctx, method, args, r), reply: r}
}

// Done is closed when the call completes.
func (f *Future[T]) Done() <-chan struct{} { return f.call.Done() }

// Wait blocks until the call completes and returns its result.
func (f *Future[T]) Wait() (*T, error) {
	if err := f.call.Wait(); err != nil {
		return nil, err
	}
	return f.reply, nil
}
