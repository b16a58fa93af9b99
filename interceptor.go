package ferry

import "context"

// CallInfo describes the call an interceptor sees.
type CallInfo struct {
	Method string // "Service.Method" as it arrived or was called
	Notify bool   // true for a one-way notification: any reply is dropped
}

// Handler runs a decoded call on the serving side: args is a pointer to the
// decoded arguments, and the returned reply is encoded as the result.
type Handler func(ctx context.Context, args any) (reply any, err error)

// ServerInterceptor wraps every incoming call after its arguments are
// decoded. It must call next to run the handler, or return an error instead.
type ServerInterceptor func(ctx context.Context, info *CallInfo, args any, next Handler) (reply any, err error)

// Invoker performs an outgoing call: it sends args and decodes the result
// into reply (nil for a notification).
type Invoker func(ctx context.Context, info *CallInfo, args, reply any) error

// ClientInterceptor wraps every outgoing call. It must call next to send
// the call, or return an error instead.
type ClientInterceptor func(ctx context.Context, info *CallInfo, args, reply any, next Invoker) error
