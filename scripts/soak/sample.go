package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
)

// stats counts what the load and the faults did; every field is updated
// atomically from many goroutines.
type stats struct {
	ok, wrong, panics, hangs atomic.Int64
	failed                   [17]atomic.Int64 // by ferry.Code; index 0: not a *ferry.Error
	connects, dialFailures   atomic.Int64
	faults, serverRestarts   atomic.Int64
	notesSent, notesHandled  atomic.Int64
}

// record counts one operation's outcome.
func (s *stats) record(err error) {
	if err == nil {
		s.ok.Add(1)
		return
	}
	code := ferry.CodeOf(err)
	if !code.Valid() || code == ferry.CodeUnknown {
		code = 0
	}
	s.failed[code].Add(1)
}

func (s *stats) failures() int64 {
	var n int64
	for i := range s.failed {
		n += s.failed[i].Load()
	}
	return n
}

// recoverPanic counts a panic in a soak goroutine instead of crashing, so
// that the run reports it; call it deferred.
func (s *stats) recoverPanic(where string) {
	if p := recover(); p != nil {
		s.panics.Add(1)
		fmt.Fprintf(os.Stderr, "soak: panic in %s: %v\n", where, p)
	}
}

// sample is one measurement of the process.
type sample struct {
	at         time.Duration
	heapInuse  float64 // MiB in use after a GC
	heapLive   float64 // MiB of live objects after a GC
	stacks     float64 // MiB of goroutine stacks
	goroutines int
	fds        int
	ok, failed int64
	connects   int64
	panics     int64
}

func takeSample(at time.Duration, st *stats) sample {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	s := sample{
		at:         at,
		heapInuse:  float64(m.HeapInuse) / (1 << 20),
		heapLive:   float64(m.HeapAlloc) / (1 << 20),
		stacks:     float64(m.StackInuse) / (1 << 20),
		goroutines: runtime.NumGoroutine(),
		fds:        openFDs(),
	}
	if st != nil {
		s.ok, s.failed, s.connects, s.panics = st.ok.Load(), st.failures(), st.connects.Load(), st.panics.Load()
	}
	return s
}

// openFDs counts this process's open file descriptors, or returns -1 where
// /proc is missing.
func openFDs() int {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return -1
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return -1
	}
	return len(names) - 1 // the directory itself
}

// sampleUntil samples every interval until ctx ends, printing each sample
// and, the first time goroutines exceed dumpAbove (when positive), a
// goroutine profile.
func sampleUntil(ctx context.Context, start time.Time, every time.Duration, dumpAbove int, st *stats) []sample {
	t := time.NewTicker(every)
	defer t.Stop()
	var out []sample
	fmt.Println(header)
	for range 1 << 20 {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		s := takeSample(time.Since(start), st)
		out = append(out, s)
		fmt.Println(s.row())
		if dumpAbove > 0 && s.goroutines > dumpAbove {
			dumpAbove = 0
			_ = pprof.Lookup("goroutine").WriteTo(os.Stdout, 1)
		}
	}
	return out
}

const header = "     t  heap MiB  live MiB  stack MiB  goroutines   fds         ok   failed  connects  panics"

func (s sample) row() string {
	return fmt.Sprintf("%6s  %8.2f  %8.2f  %9.2f  %10d  %4d  %9d  %7d  %8d  %6d",
		s.at.Round(time.Second), s.heapInuse, s.heapLive, s.stacks, s.goroutines, s.fds, s.ok, s.failed, s.connects, s.panics)
}

// heapSlope fits a line by least squares to the heap samples taken at or
// after from and returns the slopes of heap in use and of live heap in
// MiB per minute, and how many samples it used.
func heapSlope(samples []sample, from time.Duration) (inuse, live float64, n int) {
	var xs, ys, ls []float64
	for _, s := range samples {
		if s.at >= from {
			xs = append(xs, s.at.Minutes())
			ys = append(ys, s.heapInuse)
			ls = append(ls, s.heapLive)
		}
	}
	return slope(xs, ys), slope(xs, ls), len(xs)
}

// slope returns the least-squares slope of ys over xs, or 0 with fewer
// than two distinct xs.
func slope(xs, ys []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	var mx, my float64
	for i := range xs {
		mx += xs[i]
		my += ys[i]
	}
	mx /= float64(len(xs))
	my /= float64(len(ys))
	var num, den float64
	for i := range xs {
		num += (xs[i] - mx) * (ys[i] - my)
		den += (xs[i] - mx) * (xs[i] - mx)
	}
	if den == 0 {
		return 0
	}
	return num / den
}

// printReport prints every sample, the final one after shutdown, and the
// outcome counters.
func printReport(samples []sample, final sample, st *stats) {
	fmt.Println("\nsamples:")
	fmt.Println(header)
	for _, s := range samples {
		fmt.Println(s.row())
	}
	fmt.Println("after closing everything:")
	fmt.Println(final.row())
	var fails []string
	for code := range st.failed {
		if n := st.failed[code].Load(); n > 0 {
			name := "other"
			if code > 0 {
				name = ferry.Code(code).String()
			}
			fails = append(fails, fmt.Sprintf("%s=%d", name, n))
		}
	}
	fmt.Printf("\noperations ok %d, failed %d (%s); connections %d, dial failures %d; faults %d, server restarts %d; notifications sent %d, handled %d\n",
		st.ok.Load(), st.failures(), strings.Join(fails, " "), st.connects.Load(), st.dialFailures.Load(),
		st.faults.Load(), st.serverRestarts.Load(), st.notesSent.Load(), st.notesHandled.Load())
}
