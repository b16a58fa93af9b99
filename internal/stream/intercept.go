package stream

import (
	"context"

	"github.com/ferryrpc/ferry"
)

// Serve runs handler on st through the serving side's stream interceptor
// ic (nil: none). A failure before handler ran is marked not executed: an
// interceptor refused the stream and no handler saw it.
func Serve(ctx context.Context, ic ferry.StreamServerInterceptor, info *ferry.StreamInfo, st ferry.ServerStream, handler ferry.StreamHandler) (any, error) {
	if ic == nil {
		return handler(ctx, st)
	}
	ran := false
	res, err := ic(ctx, info, st, func(ctx context.Context, st ferry.ServerStream) (any, error) {
		ran = true
		return handler(ctx, st)
	})
	if err != nil && !ran {
		return nil, ferry.MarkNotExecuted(ferry.FromError(err))
	}
	return res, err
}

// Open opens a stream through the calling side's stream interceptor ic
// (nil: none). A failure before open ran is marked not executed: an
// interceptor refused the stream before it reached the network.
func Open(ctx context.Context, ic ferry.StreamClientInterceptor, info *ferry.StreamInfo, open ferry.Streamer) (ferry.ClientStream, error) {
	if ic == nil {
		return open(ctx, info)
	}
	ran := false
	cs, err := ic(ctx, info, func(ctx context.Context, info *ferry.StreamInfo) (ferry.ClientStream, error) {
		ran = true
		return open(ctx, info)
	})
	if err != nil && !ran {
		return nil, ferry.MarkNotExecuted(ferry.FromError(err))
	}
	if err == nil && cs == nil {
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeInternal, "a stream interceptor returned neither a stream nor an error"))
	}
	return cs, err
}
