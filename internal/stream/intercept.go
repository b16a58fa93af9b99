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
// interceptor refused the stream before it reached the network. A
// failure after it ran closes the streams open gave it, cancelling their
// calls: the caller has no stream to close.
func Open(ctx context.Context, ic ferry.StreamClientInterceptor, info *ferry.StreamInfo, open ferry.Streamer) (ferry.ClientStream, error) {
	if ic == nil {
		return open(ctx, info)
	}
	var opened []ferry.ClientStream // under the interceptor's goroutine
	cs, err := ic(ctx, info, func(ctx context.Context, info *ferry.StreamInfo) (ferry.ClientStream, error) {
		cs, err := open(ctx, info)
		if err == nil {
			opened = append(opened, cs)
		}
		return cs, err
	})
	ran := opened != nil
	if err == nil && cs == nil {
		err = ferry.NewError(ferry.CodeInternal, "a stream interceptor returned neither a stream nor an error")
	}
	if err == nil {
		return cs, nil
	}
	for _, o := range opened {
		_ = o.Close()
	}
	if !ran {
		return nil, ferry.MarkNotExecuted(ferry.FromError(err))
	}
	return nil, err
}
