package debug

import (
	"context"
	"log/slog"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
)

// ServerLogger returns a server interceptor that logs every call it sees
// to l: a completed call at slog.LevelDebug, a failed one at
// slog.LevelWarn, with the attributes method, peer (the client's address),
// duration, and for failures code and err. A nil l logs nothing.
//
//	s := server.New(server.WithInterceptors(debug.ServerLogger(logger)))
func ServerLogger(l *slog.Logger) ferry.ServerInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if l == nil {
			return next(ctx, args)
		}
		t0 := time.Now()
		reply, err := next(ctx, args)
		attrs := []slog.Attr{slog.String("method", info.Method)}
		if p := server.PeerFromContext(ctx); p != nil && p.RemoteAddr() != nil {
			attrs = append(attrs, slog.String("peer", p.RemoteAddr().String()))
		}
		logCall(ctx, l, "ferry: served", info, time.Since(t0), err, attrs)
		return reply, err
	}
}

// ClientLogger returns a client interceptor that logs every call it makes
// to l, with the same levels and attributes as ServerLogger (less peer). A
// nil l logs nothing.
func ClientLogger(l *slog.Logger) ferry.ClientInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		if l == nil {
			return next(ctx, info, args, reply)
		}
		t0 := time.Now()
		err := next(ctx, info, args, reply)
		logCall(ctx, l, "ferry: called", info, time.Since(t0), err, []slog.Attr{slog.String("method", info.Method)})
		return err
	}
}

func logCall(ctx context.Context, l *slog.Logger, msg string, info *ferry.CallInfo, d time.Duration, err error, attrs []slog.Attr) {
	attrs = append(attrs, slog.Duration("duration", d))
	if info.Notify {
		attrs = append(attrs, slog.Bool("notify", true))
	}
	level := slog.LevelDebug
	if err != nil {
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("code", ferry.CodeOf(err).String()), slog.String("err", errText(err)))
	}
	l.LogAttrs(ctx, level, msg, attrs...)
}

// errText is err's message. An error whose Error panics (a nil *MyError
// reading a field) reads as ferry.FromError describes it, so that logging
// the call does not turn its failure into a panic of the interceptor.
func errText(err error) (s string) {
	defer func() {
		if recover() != nil {
			s = ferry.FromError(err).Error()
		}
	}()
	return err.Error()
}
