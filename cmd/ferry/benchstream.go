package main

import (
	"context"
	"io"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
)

// detectStream makes the load test drive a bidi method with messages on
// streams when the server describes cfg.method as one; other streaming
// kinds are refused.
func (cfg *benchConfig) detectStream(ctx context.Context, e *env, cf *connFlags, c caller) int {
	kind := streamKindOf(ctx, cf, c, cfg.method)
	switch kind {
	case "":
		return exitOK
	case "bidi":
	default:
		e.printf("ferry: bench drives unary and bidi methods; %s is %s-streaming", cfg.method, kind)
		return exitFail
	}
	if _, ok := asStreamer(c); !ok {
		e.printf("ferry: %s is a bidi method: streams need Ferry's session protocol, not -plain", cfg.method)
		return exitFail
	}
	m, err := paramsMessage(cfg.params)
	if err != nil {
		e.printf("%v", err)
		return exitFail
	}
	cfg.stream, cfg.message = true, m
	return exitOK
}

// streamLoop sends one message at a time on a bidi stream of its own and
// waits for the reply before the next, timing each round trip; -n counts
// messages, and -timeout bounds each stream. A failed stream is counted
// and replaced.
func (w *worker) streamLoop(ctx context.Context, stop <-chan struct{}, issued, done, failed *atomic.Uint64) {
	var st *client.Stream
	var cancel context.CancelFunc = func() {}
	closeStream := func() {
		if st != nil {
			_ = st.CloseSend()
			for i := 0; i < 1000 && st.Recv(nil) == nil; i++ {
			}
			st.Close()
			st = nil
		}
		cancel()
	}
	defer func() { closeStream() }()
	for {
		select {
		case <-stop:
			return
		default:
		}
		if w.cfg.total > 0 && issued.Add(1) > w.cfg.total {
			return
		}
		t0 := time.Now()
		if st == nil {
			var sctx context.Context
			sctx, cancel = w.cf.callContext(ctx)
			var err error
			if st, err = w.c.(streamer).openStream(sctx, w.cfg.method); err != nil {
				cancel()
				done.Add(1)
				w.fail(err, failed)
				continue
			}
		}
		err := st.Send(w.cfg.message)
		if err == nil {
			err = st.Recv(nil)
		}
		if err == io.EOF {
			err = ferry.NewError(ferry.CodeInternal, "the stream ended before its reply")
		}
		w.hist.Record(time.Since(t0))
		done.Add(1)
		if err != nil {
			w.fail(err, failed)
			st.Close()
			st = nil
			cancel()
			continue
		}
		w.ok++
	}
}
