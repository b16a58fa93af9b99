// Command soak runs a Ferry server and many clients in one process over
// loopback, through faultnet, for a bounded time, and checks that memory,
// goroutines and file descriptors stay flat:
//
//	go run ./scripts/soak -d 5m
//
// Clients make a mixed load (synchronous calls, bursts of asynchronous
// calls, notifications, bidirectional streams, publish/subscribe) and
// reconnect when their connection breaks. A fault is injected every
// -fault-every, in rotation: blackhole a client, stall it, a latency
// spike, a bandwidth squeeze, an abrupt reset, a stall of every server
// connection, and a server Shutdown and restart. Every -sample-every the
// program records the heap in use after a GC, goroutines, open file
// descriptors, panics and call outcomes.
//
// At the end it prints the samples, the heap slope (least squares, MiB per
// minute over the second half of the run), and whether goroutines and file
// descriptors returned to their baseline once everything was closed. It
// exits with status 1 if the slope is 1 MiB/min or more, anything did not
// return to baseline, any panic happened or any call returned a wrong
// result. It is a script for people, not part of CI; every loop in it is
// bounded in count and time, and all traffic stays on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/transport"
)

type flags struct {
	duration    time.Duration
	clients     int
	faultEvery  time.Duration
	sampleEvery time.Duration
	settle      time.Duration
	maxSlope    float64
	dumpAbove   int
}

func main() {
	var fl flags
	flag.DurationVar(&fl.duration, "d", time.Minute, "how long to run the load (1s..24h)")
	flag.IntVar(&fl.clients, "clients", 8, "number of clients (1..256)")
	flag.DurationVar(&fl.faultEvery, "fault-every", 10*time.Second, "interval between injected faults")
	flag.DurationVar(&fl.sampleEvery, "sample-every", 5*time.Second, "interval between samples")
	flag.DurationVar(&fl.settle, "settle", 15*time.Second, "how long to wait for goroutines and fds to return to baseline")
	flag.Float64Var(&fl.maxSlope, "max-slope", 1, "largest acceptable heap slope in MiB/min")
	flag.IntVar(&fl.dumpAbove, "dump-goroutines", 0, "print a goroutine profile (once) when a sample finds more goroutines than this; 0: never")
	flag.Parse()
	if fl.duration < time.Second || fl.duration > 24*time.Hour || fl.clients < 1 || fl.clients > 256 ||
		fl.faultEvery <= 0 || fl.sampleEvery <= 0 || fl.settle <= 0 {
		fmt.Fprintln(os.Stderr, "soak: a flag is out of range")
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if !run(ctx, fl) {
		os.Exit(1)
	}
}

// soakConfig detects dead peers within about two seconds, so that faults
// turn into reconnections within one fault interval.
func soakConfig() transport.Config {
	cfg := transport.DefaultConfig()
	cfg.KeepAliveInterval = time.Second
	cfg.WriteTimeout = time.Second
	cfg.StreamOpenTimeout = 2 * time.Second
	cfg.StreamCloseTimeout = 2 * time.Second
	cfg.SniffTimeout = 2 * time.Second
	return cfg
}

// run soaks and reports; it returns whether every check passed.
func run(ctx context.Context, fl flags) bool {
	base := takeSample(0, nil)
	fmt.Printf("soak: %v, %d clients, a fault every %v; baseline %d goroutines, %d fds, heap %.1f MiB\n",
		fl.duration, fl.clients, fl.faultEvery, base.goroutines, base.fds, base.heapInuse)
	st := &stats{}
	cfg := soakConfig()
	box := &serverBox{cfg: cfg, st: st, faults: faultnet.New()}
	if err := box.start("127.0.0.1:0"); err != nil {
		fmt.Fprintln(os.Stderr, "soak: start the server:", err)
		return false
	}
	loadCtx, cancel := context.WithTimeout(ctx, fl.duration)
	workers := make([]*worker, fl.clients)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{id: i, f: faultnet.New(), box: box, st: st, cfg: cfg}
		wg.Add(1)
		go func() {
			defer wg.Done()
			workers[i].run(loadCtx)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		injectFaults(loadCtx, fl.faultEvery, box, workers, st)
	}()
	start := time.Now()
	samples := sampleUntil(loadCtx, start, fl.sampleEvery, fl.dumpAbove, st)
	stuck := stuckWorkers(workers, time.Now(), 15*time.Second)
	cancel()

	stopped := waitTimeout(&wg, 30*time.Second) && box.stop()
	final := takeSample(time.Since(start), st)
	back, end := awaitBaseline(base, fl.settle)
	printReport(samples, final, st)
	ok := verdict(fl, base, end, samples, st, stopped, back)
	if len(stuck) > 0 {
		fmt.Printf("FAIL clients without a successful operation in the last 15 s of the load: %v\n", stuck)
		return false
	}
	fmt.Println("ok   every client succeeded within the last 15 s of the load")
	return ok
}

// stuckWorkers returns the ids of workers whose last success is older than
// limit: their reconnection or the server is stuck.
func stuckWorkers(ws []*worker, now time.Time, limit time.Duration) []int {
	var ids []int
	for _, w := range ws {
		if w.idle(now) > limit {
			ids = append(ids, w.id)
		}
	}
	return ids
}

// waitTimeout waits for wg for at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// awaitBaseline polls, for at most settle, until goroutines and fds are
// back to the baseline, and returns whether they got there and the last
// sample.
func awaitBaseline(base sample, settle time.Duration) (bool, sample) {
	deadline := time.Now().Add(settle)
	for {
		s := takeSample(0, nil)
		if s.goroutines <= base.goroutines && s.fds <= base.fds {
			return true, s
		}
		if time.Now().After(deadline) {
			return false, s
		}
		time.Sleep(100 * time.Millisecond) // polling process-wide counts has no event to wait on
	}
}

// verdict prints the checks and returns whether all passed.
func verdict(fl flags, base, end sample, samples []sample, st *stats, stopped, back bool) bool {
	ok := true
	check := func(pass bool, format string, args ...any) {
		mark := "ok  "
		if !pass {
			mark, ok = "FAIL", false
		}
		fmt.Printf("%s %s\n", mark, fmt.Sprintf(format, args...))
	}
	slope, live, n := heapSlope(samples, fl.duration/2)
	check(n >= 3 && slope < fl.maxSlope, "heap-in-use slope over the second half (%d samples): %+.3f MiB/min (live heap %+.3f MiB/min; limit %.1f)", n, slope, live, fl.maxSlope)
	check(stopped, "every client and the server stopped within 30 s of the end of the load")
	check(back && end.goroutines <= base.goroutines, "goroutines back to baseline: %d now, %d at start", end.goroutines, base.goroutines)
	check(back && end.fds <= base.fds, "file descriptors back to baseline: %d now, %d at start", end.fds, base.fds)
	check(st.hangs.Load() == 0, "server stops that hung: %d", st.hangs.Load())
	check(st.panics.Load() == 0, "panics: %d", st.panics.Load())
	check(st.wrong.Load() == 0, "wrong results: %d", st.wrong.Load())
	check(st.ok.Load() > 0, "successful operations: %d", st.ok.Load())
	if !back || !stopped {
		fmt.Println("goroutines still running:")
		_ = pprof.Lookup("goroutine").WriteTo(os.Stdout, 1)
	}
	return ok
}
