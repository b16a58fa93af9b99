package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/internal/hist"
	"github.com/ferryrpc/ferry/benchmarks/internal/procstat"
	"github.com/ferryrpc/ferry/benchmarks/message"
)

// Options describe one timed window.
type Options struct {
	Workload Workload
	// Concurrency is the number of worker goroutines sharing the client,
	// or for an AsyncClient the number of calls kept in flight by its
	// single goroutine.
	Concurrency int
	Warmup      time.Duration // calls made but not measured, before the window
	Duration    time.Duration // the measured window
}

// Result is what one window measured. Allocations and CPU cover the whole
// process: client and server together. In the stream scenario (Window > 0)
// a call is one echoed message: Calls counts echoes, Concurrency streams,
// and the per-call figures are per echoed message; latencies stay zero.
type Result struct {
	System        string
	Concurrency   int
	Bulk          int          // payload bytes per call, 0 for the message workload
	Message       message.Kind // the record echoed when Bulk is 0
	Window        int          // stream scenario: messages in flight per stream; 0 otherwise
	MessageBytes  int          // stream scenario: payload bytes of one message in the system's encoding
	Calls         int64
	Elapsed       time.Duration
	CallsPerSec   float64
	P50           time.Duration
	P99           time.Duration
	P999          time.Duration
	AllocsPerCall float64
	BytesPerCall  float64
	CPUPerCall    time.Duration
}

// Phases of a window; workers read the phase before and after each call
// and record only calls that began and ended inside the measured window.
const (
	phaseWarmup int32 = iota
	phaseMeasure
	phaseStop
)

type window struct {
	phase atomic.Int32
	errMu sync.Mutex
	err   error
	stop  context.CancelFunc
}

func (w *window) fail(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
	w.phase.Store(phaseStop)
	w.stop()
}

// worker is one goroutine's tally.
type worker struct {
	h     *hist.Histogram
	calls int64
}

// Run starts sys, runs the window described by o, checks every worker's
// last reply, and shuts everything down. It returns ErrUnsupported (wrapped)
// when sys does not run o.Workload.
func Run(ctx context.Context, sys System, o Options) (Result, error) {
	if o.Concurrency < 1 {
		return Result{}, errors.New("bench: concurrency must be at least 1")
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

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := &window{stop: cancel}
	workers, wait, err := launch(ctx, cl, o, w)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", sys.Name(), err)
	}
	res, err := measure(ctx, o, w, wait)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", sys.Name(), err)
	}
	h := hist.New()
	for _, wk := range workers {
		h.Merge(wk.h)
		res.Calls += wk.calls
	}
	res.finish(h, sys.Name(), o)
	return res, nil
}

// measure lets the workers warm up, then brackets the measured window with
// process snapshots, then stops the workers and checks their replies.
func measure(ctx context.Context, o Options, w *window, wait func() error) (Result, error) {
	sleep(ctx, o.Warmup)
	before := procstat.Take()
	w.phase.CompareAndSwap(phaseWarmup, phaseMeasure)
	sleep(ctx, o.Duration)
	w.phase.CompareAndSwap(phaseMeasure, phaseStop)
	after := procstat.Take()
	checkErr := wait()
	if w.err != nil {
		return Result{}, w.err
	}
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if checkErr != nil {
		return Result{}, checkErr
	}
	d := after.Sub(before)
	return Result{Elapsed: d.Elapsed, AllocsPerCall: float64(d.Mallocs), BytesPerCall: float64(d.Bytes), CPUPerCall: d.CPU}, nil
}

// sleep waits for d or until ctx ends (a worker failed, or the caller
// gave up).
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// finish turns the window's totals into per-call figures.
func (r *Result) finish(h *hist.Histogram, name string, o Options) {
	r.System, r.Concurrency, r.Bulk, r.Message = name, o.Concurrency, o.Workload.Bulk, o.Workload.Message
	r.P50, r.P99, r.P999 = h.Quantile(0.5), h.Quantile(0.99), h.Quantile(0.999)
	if r.Calls == 0 {
		return
	}
	n := float64(r.Calls)
	r.CallsPerSec = n / r.Elapsed.Seconds()
	r.AllocsPerCall /= n
	r.BytesPerCall /= n
	r.CPUPerCall = time.Duration(float64(r.CPUPerCall) / n)
}

// launch creates the callers (before any call is made, so that creating
// them is not measured), collects garbage, and starts the workers. wait
// waits for them and returns the first failed reply check.
func launch(ctx context.Context, cl Client, o Options, w *window) ([]*worker, func() error, error) {
	switch c := cl.(type) {
	case SyncClient:
		callers := make([]Caller, o.Concurrency)
		for i := range callers {
			var err error
			if callers[i], err = c.NewCaller(o.Workload); err != nil {
				return nil, nil, err
			}
		}
		runtime.GC()
		return startSync(ctx, callers, w)
	case AsyncClient:
		p, err := c.NewPipeline(o.Workload, o.Concurrency)
		if err != nil {
			return nil, nil, err
		}
		runtime.GC()
		return startAsync(ctx, p, o.Concurrency, w)
	default:
		return nil, nil, fmt.Errorf("bench: client %T is neither a SyncClient nor an AsyncClient", cl)
	}
}

func startSync(ctx context.Context, callers []Caller, w *window) ([]*worker, func() error, error) {
	workers := make([]*worker, len(callers))
	var wg sync.WaitGroup
	for i, c := range callers {
		wk := &worker{h: hist.New()}
		workers[i] = wk
		wg.Add(1)
		go func() {
			defer wg.Done()
			runSync(ctx, c, wk, w)
		}()
	}
	wait := func() error {
		wg.Wait()
		for _, c := range callers {
			if err := c.Check(); err != nil {
				return err
			}
		}
		return nil
	}
	return workers, wait, nil
}

func runSync(ctx context.Context, c Caller, wk *worker, w *window) {
	for {
		ph := w.phase.Load()
		if ph == phaseStop {
			return
		}
		start := time.Now()
		if err := c.Call(ctx); err != nil {
			w.fail(err)
			return
		}
		if ph == phaseMeasure && w.phase.Load() == phaseMeasure {
			wk.h.Record(time.Since(start))
			wk.calls++
		}
	}
}

func startAsync(ctx context.Context, p Pipeline, depth int, w *window) ([]*worker, func() error, error) {
	wk := &worker{h: hist.New()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runAsync(ctx, p, depth, wk, w)
	}()
	wait := func() error {
		<-done
		for i := range depth {
			if err := p.Check(i); err != nil {
				return err
			}
		}
		return nil
	}
	return []*worker{wk}, wait, nil
}

// runAsync keeps depth calls in flight and waits for them in the order
// they were started. A call that completes while an older one is still
// pending is timed when its turn comes, so latencies can read slightly
// high; throughput is exact.
func runAsync(ctx context.Context, p Pipeline, depth int, wk *worker, w *window) {
	starts := make([]time.Time, depth)
	phases := make([]int32, depth)
	for i := range depth {
		phases[i], starts[i] = w.phase.Load(), time.Now()
		p.Start(ctx, i)
	}
	for i := 0; ; i = (i + 1) % depth {
		err := p.Wait(i)
		end := time.Now()
		if err != nil {
			w.fail(err)
		}
		ph := w.phase.Load()
		if ph == phaseStop {
			for j := 1; j < depth; j++ {
				_ = p.Wait((i + j) % depth)
			}
			return
		}
		if phases[i] == phaseMeasure && ph == phaseMeasure {
			wk.h.Record(end.Sub(starts[i]))
			wk.calls++
		}
		phases[i], starts[i] = ph, time.Now()
		p.Start(ctx, i)
	}
}
