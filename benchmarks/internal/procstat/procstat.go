//go:build linux

// Package procstat reads what the process has spent: heap allocations from
// the Go runtime, CPU time from getrusage, resident memory from
// /proc/self/statm. Client and server run in the same process, so each
// figure covers both ends of a call.
package procstat

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"
)

// Snapshot is the process's cumulative counters at one moment.
type Snapshot struct {
	At         time.Time
	Mallocs    uint64        // heap objects allocated so far
	TotalAlloc uint64        // heap bytes allocated so far
	CPU        time.Duration // user plus system CPU time so far
}

// Take reads the counters. It stops the world briefly (ReadMemStats).
func Take() Snapshot {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return Snapshot{At: time.Now(), Mallocs: ms.Mallocs, TotalAlloc: ms.TotalAlloc, CPU: cpuTime()}
}

// Delta is what was spent between two snapshots.
type Delta struct {
	Elapsed time.Duration
	Mallocs uint64
	Bytes   uint64
	CPU     time.Duration
}

// Sub returns s minus earlier.
func (s Snapshot) Sub(earlier Snapshot) Delta {
	return Delta{
		Elapsed: s.At.Sub(earlier.At),
		Mallocs: s.Mallocs - earlier.Mallocs,
		Bytes:   s.TotalAlloc - earlier.TotalAlloc,
		CPU:     s.CPU - earlier.CPU,
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Settle collects garbage twice and returns freed memory to the OS, so
// that the memory figures read next hold live data only.
func Settle() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}

// Memory is the process's memory at one moment.
type Memory struct {
	RSS        uint64 // resident set size, bytes
	HeapAlloc  uint64 // bytes of live (and not yet swept) heap objects
	StackInuse uint64 // bytes of goroutine stacks
	Goroutines int
}

// ReadMemory reads the resident set size and the Go heap; call Settle first.
func ReadMemory() (Memory, error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := Memory{HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return m, err
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return m, fmt.Errorf("procstat: parse /proc/self/statm: %w", err)
	}
	m.RSS = resident * uint64(os.Getpagesize())
	return m, nil
}
