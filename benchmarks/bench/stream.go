package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/internal/hist"
)

// StreamOptions describe one timed window of the stream scenario.
type StreamOptions struct {
	// Streams is the number of bidirectional streams, all on the one
	// connection; each has a sending and a receiving goroutine.
	Streams int
	// Window is the most messages each stream keeps in flight: sent, but
	// their echo not yet received.
	Window   int
	Warmup   time.Duration // messages echoed but not measured, before the window
	Duration time.Duration // the measured window
}

// RunStream starts sys, opens o.Streams echo streams on one client, and
// pipelines the message through each for the window described by o: a
// sender keeps up to o.Window messages in flight while a receiver takes
// their echoes. Only echoes of messages sent and received inside the
// window count. At the end each sender closes its side, the receiver
// drains the stream to its end, and the last echo of every stream is
// checked. It returns ErrUnsupported (wrapped) when sys has no streams.
func RunStream(ctx context.Context, sys System, o StreamOptions) (Result, error) {
	if o.Streams < 1 || o.Window < 1 {
		return Result{}, errors.New("bench: streams and window must be at least 1")
	}
	srv, err := sys.Listen()
	if err != nil {
		return Result{}, fmt.Errorf("%s: listen: %w", sys.Name(), err)
	}
	defer srv.Close()
	cl, err := srv.Dial(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("%s: dial: %w", sys.Name(), err)
	}
	defer cl.Close()
	sc, ok := cl.(StreamClient)
	if !ok {
		return Result{}, fmt.Errorf("%s: %w", sys.Name(), ErrUnsupported)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := make([]*streamWorker, 0, o.Streams)
	defer func() {
		for _, sw := range workers {
			sw.st.Close()
		}
	}()
	for range o.Streams {
		st, err := sc.OpenStream(ctx)
		if err != nil {
			return Result{}, fmt.Errorf("%s: open stream: %w", sys.Name(), err)
		}
		workers = append(workers, &streamWorker{st: st, inflight: make(chan int32, o.Window)})
	}
	runtime.GC()
	w := &window{stop: cancel}
	wait := startStreams(ctx, workers, w)
	res, err := measure(ctx, Options{Warmup: o.Warmup, Duration: o.Duration}, w, wait)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", sys.Name(), err)
	}
	for _, sw := range workers {
		res.Calls += sw.echoes
	}
	res.finish(hist.New(), sys.Name(), Options{Concurrency: o.Streams})
	res.Window, res.MessageBytes = o.Window, workers[0].st.MessageSize()
	return res, nil
}

// streamWorker is one stream and its tally.
type streamWorker struct {
	st Stream
	// inflight holds, in order, the phase in which each message whose
	// echo is still due was sent. Its capacity is the window: the sender
	// blocks on it while the window is full.
	inflight chan int32
	echoes   int64 // echoes counted in the window
}

// startStreams starts a sender and a receiver per stream. wait waits for
// them all and returns the first failed check of a stream's last echo.
func startStreams(ctx context.Context, workers []*streamWorker, w *window) func() error {
	var wg sync.WaitGroup
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && ctx.Err() == nil {
				w.fail(err)
			}
		}()
	}
	for _, sw := range workers {
		run(func() error { return sw.send(ctx, w) })
		run(func() error { return sw.recv(w) })
	}
	return func() error {
		wg.Wait()
		for _, sw := range workers {
			if err := sw.st.Check(); err != nil {
				return err
			}
		}
		return nil
	}
}

// send sends the message whenever the window has room, until the window
// ends; then it closes the sending side. It always sends at least one
// message, so that every stream has an echo to check.
func (sw *streamWorker) send(ctx context.Context, w *window) error {
	for first := true; ; first = false {
		ph := w.phase.Load()
		if ph == phaseStop && !first {
			return sw.st.CloseSend()
		}
		select {
		case sw.inflight <- ph:
		case <-ctx.Done():
			return nil // a worker failed; the failure is recorded
		}
		if err := sw.st.Send(); err != nil {
			return err
		}
	}
}

// recv takes echoes until the server ends the stream, counting those of
// messages sent and received in the measured window, and frees a slot of
// the window for each.
func (sw *streamWorker) recv(w *window) error {
	for {
		err := sw.st.Recv()
		if err == io.EOF {
			if n := len(sw.inflight); n > 0 {
				return fmt.Errorf("bench: the stream ended with %d echoes missing", n)
			}
			return nil
		}
		if err != nil {
			return err
		}
		var sent int32
		select {
		case sent = <-sw.inflight:
		default:
			return errors.New("bench: an echo arrived for a message never sent")
		}
		if sent == phaseMeasure && w.phase.Load() == phaseMeasure {
			sw.echoes++
		}
	}
}
