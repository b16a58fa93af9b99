package stream

import (
	"context"
	"sync"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/status"
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
// (nil: none). A failure before open was called is marked not executed:
// an interceptor refused the stream before it reached the network. A
// failure after it was called closes the streams open gave it (one still
// opening, once open returns), cancelling their calls: the caller has no
// stream to close. A nil ctx is refused before anything runs
// (status.CheckContext).
func Open(ctx context.Context, ic ferry.StreamClientInterceptor, info *ferry.StreamInfo, open ferry.Streamer) (ferry.ClientStream, error) {
	if err := status.CheckContext(ctx, info.Method); err != nil {
		return nil, err
	}
	if ic == nil {
		return open(ctx, info)
	}
	var (
		mu     sync.Mutex // an interceptor may call open from another goroutine
		ran    bool       // open began: what it sends may reach the peer
		failed bool       // the interceptor failed: a stream opened later is closed
		opened []ferry.ClientStream
	)
	cs, err := ic(ctx, info, func(ctx context.Context, info *ferry.StreamInfo) (ferry.ClientStream, error) {
		mu.Lock()
		ran = true // before open: the interceptor may fail while it runs
		mu.Unlock()
		cs, err := open(ctx, info)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
		case failed:
			_ = cs.Close() // nobody is left to close it
		default:
			opened = append(opened, cs)
		}
		return cs, err
	})
	mu.Lock()
	defer mu.Unlock()
	failed = err != nil || cs == nil
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
