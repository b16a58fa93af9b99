package ferry

import (
	"context"
	"time"
)

// CallInfo describes the call an interceptor sees. Interceptors read it
// and do not modify it: the calling side shares one CallInfo among the
// calls of a method, and the serving side reuses a call's once its
// handler has returned, so an interceptor that keeps something for later
// copies it. To send a call under another name, an interceptor passes
// next a CallInfo of its own.
type CallInfo struct {
	Method string // "Service.Method" as it arrived or was called
	Notify bool   // true for a one-way notification: any reply is dropped
	// Received is when the serving side read the call's message, before
	// decoding it and before any wait for a handler slot; zero on the
	// calling side. Now minus Received is decoding, queueing and handler
	// time together.
	Received time.Time
}

// Handler runs a decoded call on the serving side: args is a pointer to the
// decoded arguments, and the returned reply is encoded as the result.
type Handler func(ctx context.Context, args any) (reply any, err error)

// ServerInterceptor wraps every incoming call after its arguments are
// decoded. It must call next to run the handler, or return an error instead.
// A handler that panics makes next return the failure its caller gets
// (CodeInternal, "the handler of M panicked"): the panic does not unwind
// through the interceptors. The reply is encoded after the interceptors
// return: one that cannot be encoded (CodeInternal) or that is past the
// caller's message limit (CodeResourceExhausted) fails the call at the
// caller, and no interceptor sees that failure.
type ServerInterceptor func(ctx context.Context, info *CallInfo, args any, next Handler) (reply any, err error)

// Invoker performs an outgoing call: it sends args and decodes the result
// into reply (nil for a notification).
type Invoker func(ctx context.Context, info *CallInfo, args, reply any) error

// ClientInterceptor wraps every outgoing call. It must call next to send
// the call, or return an error instead.
type ClientInterceptor func(ctx context.Context, info *CallInfo, args, reply any, next Invoker) error

// ChainServer folds interceptors into one, the first outermost. It returns
// nil for an empty list.
func ChainServer(ics ...ServerInterceptor) ServerInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, info *CallInfo, args any, next Handler) (any, error) {
		h := next
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], h
			h = func(ctx context.Context, args any) (any, error) { return ic(ctx, info, args, inner) }
		}
		return h(ctx, args)
	}
}

// ChainClient folds interceptors into one, the first outermost. It returns
// nil for an empty list.
func ChainClient(ics ...ClientInterceptor) ClientInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, info *CallInfo, args, reply any, next Invoker) error {
		inv := next
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], inv
			inv = func(ctx context.Context, info *CallInfo, args, reply any) error {
				return ic(ctx, info, args, reply, inner)
			}
		}
		return inv(ctx, info, args, reply)
	}
}
