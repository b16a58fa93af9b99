package engine

import (
	"context"

	"github.com/ferryrpc/ferry"
)

// ChainServer folds interceptors into one, the first outermost. It returns
// nil for an empty list.
func ChainServer(ics ...ferry.ServerInterceptor) ferry.ServerInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
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
func ChainClient(ics ...ferry.ClientInterceptor) ferry.ClientInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		inv := next
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], inv
			inv = func(ctx context.Context, info *ferry.CallInfo, args, reply any) error {
				return ic(ctx, info, args, reply, inner)
			}
		}
		return inv(ctx, info, args, reply)
	}
}
