package stream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/meta"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/hashicorp/yamux"
)

// Serving runs streaming calls for one side: a server's for the streams
// its clients open, a client's for the streams its server opens.
type Serving struct {
	Interceptor  ferry.StreamServerInterceptor // nil: none
	Logger       *slog.Logger
	CloseTimeout time.Duration // how long a finished call waits for a caller still sending
	// Draining, when not nil, is done once a graceful shutdown begins: a
	// finished call then stops waiting for its caller to close its side,
	// so that a caller that never does cannot hold the shutdown.
	Draining context.Context
}

// Run serves one admitted streaming call of method m on st, carried by
// sc (over cnt, which counts its bytes), whose opening request carried
// ext. parent is the handler's parent
// context (the connection's, with its identity and peer); track records
// the call's cancel for the peer's $ferry.cancelstream and returns the
// function that forgets it. returned, if not nil, is called once the
// handler (and its interceptors) returned, before the final status is
// sent. Run sends the final status and returns when the call is over.
func (o *Serving) Run(parent context.Context, st net.Conn, sc *Call, cnt *Counter, m *registry.Method, ext wire.RequestExt, track func(context.CancelFunc) func(), returned func()) {
	sc.serving = true // before the handler reads
	ctx := parent
	if ext.Incoming != nil {
		ctx = context.WithValue(ctx, meta.Key{}, ext.Incoming)
	}
	var cancel context.CancelFunc
	if ext.Timeout != 0 {
		ctx, cancel = context.WithTimeout(ctx, time.Duration(max(ext.Timeout, 0)))
	} else {
		ctx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	defer track(cancel)()
	// A canceled call unblocks the handler's Send and Recv at once.
	unblocked := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(unblocked)
		sc.Cut()
	})
	sst := &served{c: sc, ctx: ctx, cancel: cancel, cnt: cnt}
	info := &ferry.StreamInfo{Method: m.Name, Kind: m.Kind}
	result, herr := o.run(ctx, info, m.Stream, sst)
	if returned != nil {
		returned()
	}
	if !stop() {
		<-unblocked // it set the deadlines: let it finish first
	}
	switch err := ctx.Err(); {
	case err == context.DeadlineExceeded:
		// The caller waits for the server to enforce its deadline: say so.
		// Its reading side may have stopped mid-frame, so read no more.
		sc.ResumeWrites()
		_ = sc.SendStatus(nil, status.Context(err))
		return
	case err != nil:
		return // the caller gave up or the connection is closing: nobody to tell
	}
	if herr == nil && sst.rerr != nil {
		herr = sst.rerr // a message the handler never got: the caller must know
	}
	if err := sc.SendStatus(result, herr); err != nil || sst.rerr != nil {
		return
	}
	// Let a caller that is still sending finish without blocking, within
	// the close timeout, or until a graceful shutdown begins.
	_ = st.SetReadDeadline(time.Now().Add(o.CloseTimeout))
	if o.Draining != nil {
		cut := make(chan struct{})
		stopCut := context.AfterFunc(o.Draining, func() {
			defer close(cut)
			_ = st.SetReadDeadline(time.Now())
		})
		defer func() {
			if !stopCut() {
				<-cut
			}
		}()
	}
	for {
		if err := sc.Recv(nil); err != nil && !errors.Is(err, ErrEnd) {
			return
		}
	}
}

func (o *Serving) run(ctx context.Context, info *ferry.StreamInfo, fn ferry.StreamHandler, st *served) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			// in the handler, or, when there are interceptors, in one of
			// them (the handler's own is recovered below)
			result, err = o.panicked(info, p, o.Interceptor != nil)
		}
	}()
	if o.Interceptor == nil {
		return fn(ctx, st)
	}
	// A panic in the handler is the call's failure, which next returns to
	// each interceptor, so that every one sees the outcome the caller gets.
	return Serve(ctx, o.Interceptor, info, st, func(ctx context.Context, st ferry.ServerStream) (result any, err error) {
		defer func() {
			if p := recover(); p != nil {
				result, err = o.panicked(info, p, false)
			}
		}()
		return fn(ctx, st)
	})
}

// panicked logs p, a panic recovered from the stream handler of info (or
// from a stream interceptor, when interceptor), and returns the failure
// the caller gets.
func (o *Serving) panicked(info *ferry.StreamInfo, p any, interceptor bool) (any, error) {
	if interceptor {
		o.Logger.Error("ferry: stream interceptor panicked", "method", info.Method, "panic", p)
		return nil, ferry.Errorf(ferry.CodeInternal, "a stream interceptor of %s panicked", info.Method)
	}
	o.Logger.Error("ferry: stream handler panicked", "method", info.Method, "panic", p)
	return nil, ferry.NewError(ferry.CodeInternal, "the stream handler panicked")
}

// served is the serving end of a streaming call on the stream itself,
// under the interceptors.
type served struct {
	c      *Call
	cnt    *Counter
	ctx    context.Context
	cancel context.CancelFunc
	eof    bool
	rerr   *ferry.Error // a failure that broke the receiving side (a limit, a protocol error)
}

func (s *served) Context() context.Context { return s.ctx }

func (s *served) WireBytes() (sent, received int64) { return s.cnt.WireBytes() }

func (s *served) Send(v any) error {
	if err := s.ctx.Err(); err != nil {
		// A stream whose window has room takes a write past its cut:
		// send nothing once the call has ended.
		return status.Context(err)
	}
	if err := s.c.Send(v); err != nil {
		fe := s.wrap(err)
		if _, local := err.(*ferry.Error); !local { //nolint:errorlint // the stream layer's own errors are never wrapped
			// The stream can send nothing more (a write that timed out,
			// a reset): the call is over, as on the calling side, so
			// that a handler still reading or waiting is not left
			// running on it.
			s.cancel()
		}
		return fe
	}
	return nil
}

func (s *served) Recv(v any) error {
	if s.eof {
		return io.EOF
	}
	if s.rerr != nil {
		return s.rerr
	}
	if err := s.ctx.Err(); err != nil {
		return status.Context(err) // not a message that was buffered before the call ended
	}
	err := s.c.Recv(v)
	if errors.Is(err, ErrEnd) {
		s.eof = true
		return io.EOF
	}
	if err != nil {
		fe := s.wrap(err)
		if _, local := err.(*ferry.Error); !local && s.ctx.Err() == nil { //nolint:errorlint // the stream layer's own errors are never wrapped
			s.rerr = fe
		}
		return fe
	}
	return nil
}

func (s *served) wrap(err error) *ferry.Error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, yamux.ErrConnectionReset) {
		// The caller closed or reset the stream without finishing: it
		// gave up (PROTOCOL.md 6, "Cancel").
		s.cancel()
	}
	if ctxErr := s.ctx.Err(); ctxErr != nil {
		return status.Context(ctxErr)
	}
	return status.Received(err)
}
