package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/hist"
)

// benchConfig is one load test.
type benchConfig struct {
	addr, method string
	params       []byte
	concurrency  int
	conns        int
	total        uint64        // stop after this many calls (0: no bound)
	duration     time.Duration // stop after this long (0: no bound)
	progress     bool
	output       string
	stream       bool      // a bidi method: each worker sends message after message on one stream
	message      codec.Raw // the message a stream worker sends
}

// benchResult is what a load test measured.
type benchResult struct {
	cfg      benchConfig
	hist     hist.Histogram
	count    uint64
	errors   uint64
	elapsed  time.Duration
	codes    map[string]uint64 // "OK" or the error code's name
	messages map[string]uint64 // error messages, at most maxMessages distinct
}

const maxMessages = 20

// maxWorkers and maxConns bound bench's -c and -conns.
const (
	maxWorkers = 10000
	maxConns   = 1000
)

func runBench(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "bench", "ADDR Service.Method ['<json params>' | @FILE | @-]")
	var cf connFlags
	cf.register(fs)
	cfg := benchConfig{}
	fs.IntVar(&cfg.concurrency, "c", 16, "calls in flight at once (workers, at most 10000)")
	n := fs.Uint64("n", 0, "number of calls (default 1000 unless -d is set)")
	fs.DurationVar(&cfg.duration, "d", 0, "run for this long (with -n: whichever ends first)")
	fs.IntVar(&cfg.conns, "conns", 1, "connections to spread the workers over (at most 1000)")
	fs.StringVar(&cfg.output, "o", "text", "report format: text, json or csv")
	fs.BoolVar(&cfg.progress, "progress", false, "show a progress bar on stderr even when it is not a terminal")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitFail
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError(e, fs, "want ADDR, METHOD and optionally the JSON params, got %d arguments", len(pos))
	}
	cfg.total = *n
	if cfg.total == 0 && cfg.duration == 0 {
		cfg.total = 1000
	}
	switch {
	case cfg.concurrency < 1 || cfg.conns < 1:
		return usageError(e, fs, "-c and -conns must be at least 1")
	case cfg.concurrency > maxWorkers || cfg.conns > maxConns:
		// Each worker holds a goroutine and its buffers, each connection
		// a session: -c 1000000 took 416 MB before a single call.
		return usageError(e, fs, "-c must be at most %d and -conns at most %d", maxWorkers, maxConns)
	case cfg.duration < 0:
		return usageError(e, fs, "-d %v must not be negative", cfg.duration)
	case cf.check() != nil:
		return usageError(e, fs, "%v", cf.check())
	case cfg.output != "text" && cfg.output != "json" && cfg.output != "csv":
		return usageError(e, fs, "-o %q: want text, json or csv", cfg.output)
	}
	cfg.addr, cfg.method = pos[0], pos[1]
	var js string
	if len(pos) == 3 {
		if js, err = readParamsArg(e, pos[2]); err != nil {
			e.printf("%v", err)
			return exitFail
		}
	}
	if cfg.params, err = paramsFromJSON(js); err != nil {
		e.printf("%v", err)
		return exitFail
	}
	cfg.progress = cfg.progress || e.tty

	callers := make([]caller, 0, cfg.conns)
	defer func() {
		for _, c := range callers {
			c.Close()
		}
	}()
	for range cfg.conns {
		c, err := cf.dial(ctx, cfg.addr)
		if err != nil {
			e.printf("ferry: connect to %s: %v", cfg.addr, err)
			return exitFail
		}
		callers = append(callers, c)
	}
	cf.warnPlain(e, callers[0])
	if code := cfg.detectStream(ctx, e, &cf, callers[0]); code != exitOK {
		return code
	}
	r := bench(ctx, e, &cf, cfg, callers)
	if err := writeReport(e.stdout, r); err != nil {
		e.printf("ferry: %v", err)
		return exitFail
	}
	return r.exitCode()
}

// bench runs the workers and collects their results.
func bench(ctx context.Context, e *env, cf *connFlags, cfg benchConfig, callers []caller) *benchResult {
	r := &benchResult{cfg: cfg, codes: map[string]uint64{}, messages: map[string]uint64{}}
	stop := make(chan struct{})
	var once sync.Once
	halt := func() { once.Do(func() { close(stop) }) }
	if cfg.duration > 0 {
		t := time.AfterFunc(cfg.duration, halt)
		defer t.Stop()
	}
	ctxDone := context.AfterFunc(ctx, halt)
	defer ctxDone()
	// Ctrl-C (ctx ending) stops new calls, but the calls in flight finish,
	// each within -timeout, and count in the report.
	callCtx := context.WithoutCancel(ctx)

	var issued, done, failed atomic.Uint64
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	bar := startProgress(e, cfg, start, &done, &failed)
	for i := range cfg.concurrency {
		wg.Add(1)
		go func(c caller) {
			defer wg.Done()
			w := worker{cf: cf, cfg: cfg, c: c, codes: map[ferry.Code]uint64{}, messages: map[string]uint64{}}
			w.loop(callCtx, stop, &issued, &done, &failed)
			mu.Lock()
			r.merge(&w)
			mu.Unlock()
		}(callers[i%len(callers)])
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	bar.finish()
	return r
}

// worker makes calls one after another and keeps its own tallies.
type worker struct {
	cf       *connFlags
	cfg      benchConfig
	c        caller
	hist     hist.Histogram
	ok       uint64
	codes    map[ferry.Code]uint64
	messages map[string]uint64
}

func (w *worker) loop(ctx context.Context, stop <-chan struct{}, issued, done, failed *atomic.Uint64) {
	if w.cfg.stream {
		w.streamLoop(ctx, stop, issued, done, failed)
		return
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if w.cfg.total > 0 && issued.Add(1) > w.cfg.total {
			return
		}
		cctx, cancel := w.cf.callContext(ctx)
		t0 := time.Now()
		_, err := w.c.call(cctx, w.cfg.method, w.cfg.params)
		w.hist.Record(time.Since(t0))
		cancel()
		done.Add(1)
		if err == nil {
			w.ok++
			continue
		}
		w.fail(err, failed)
	}
}

// fail counts a failed call or message.
func (w *worker) fail(err error, failed *atomic.Uint64) {
	failed.Add(1)
	w.codes[ferry.CodeOf(err)]++
	if _, seen := w.messages[err.Error()]; seen || len(w.messages) < maxMessages {
		w.messages[err.Error()]++
	}
}

func (r *benchResult) merge(w *worker) {
	r.hist.Merge(&w.hist)
	r.count += w.hist.Count()
	if w.ok > 0 {
		r.codes["OK"] += w.ok
	}
	for c, n := range w.codes {
		r.codes[c.String()] += n
		r.errors += n
	}
	for m, n := range w.messages {
		if _, seen := r.messages[m]; seen || len(r.messages) < maxMessages {
			r.messages[m] += n
		}
	}
}

// exitCode is 0 when every call succeeded, else 10 + the most frequent
// error code.
func (r *benchResult) exitCode() int {
	best, bestN := ferry.Code(0), uint64(0)
	for c := ferry.Code(1); c.Valid(); c++ {
		if n := r.codes[c.String()]; n > bestN {
			best, bestN = c, n
		}
	}
	if bestN == 0 {
		return exitOK
	}
	return exitCodeBase + int(best)
}

// progress draws a bar on stderr while a load test runs.
type progress struct {
	e            *env
	cfg          benchConfig
	start        time.Time
	done, failed *atomic.Uint64
	quit, exited chan struct{}
}

func startProgress(e *env, cfg benchConfig, start time.Time, done, failed *atomic.Uint64) *progress {
	p := &progress{e: e, cfg: cfg, start: start, done: done, failed: failed}
	if !cfg.progress {
		return p
	}
	p.quit, p.exited = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(p.exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) finish() {
	if p.quit == nil {
		return
	}
	close(p.quit)
	<-p.exited
	p.draw()
	fmt.Fprintln(p.e.stderr)
}

// draw prints "[=====>    ]  45%  45000/100000  61234 calls/s  0 errors  0.7s".
func (p *progress) draw() {
	done, elapsed := p.done.Load(), time.Since(p.start)
	frac := 0.0
	if p.cfg.total > 0 {
		frac = float64(done) / float64(p.cfg.total)
	}
	if p.cfg.duration > 0 {
		frac = max(frac, elapsed.Seconds()/p.cfg.duration.Seconds())
	}
	frac = min(frac, 1)
	const width = 30
	fill := int(frac * width)
	bar := make([]byte, width)
	for i := range bar {
		switch {
		case i < fill:
			bar[i] = '='
		case i == fill:
			bar[i] = '>'
		default:
			bar[i] = ' '
		}
	}
	of := ""
	if p.cfg.total > 0 {
		of = fmt.Sprintf("/%d", p.cfg.total)
	}
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	fmt.Fprintf(p.e.stderr, "\r[%s] %3.0f%%  %d%s  %.0f calls/s  %d errors  %.1fs ",
		bar, frac*100, done, of, rate, p.failed.Load(), elapsed.Seconds())
}
