package e2e_test

// The attack_*_test.go files attack the example server
// (examples/arith/server, built as a binary, run with its defaults: a
// 192 MiB Go memory limit) in ways scripts/attack does not, and check what
// SECURITY.md's threat model promises: the server's RSS stays within
// 256 MiB, a fresh client's Arith.Add succeeds within 2 s all along, the
// server neither dies nor hangs, and the attacker gets errors or a close.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	siegeRSSMax     = 256 << 20       // the RSS the example server must stay under
	siegeProbeLimit = 2 * time.Second // how long a fresh client's call may take
	siegeProbeEvery = 200 * time.Millisecond
)

// siege is the example server under attack, with a fresh client calling
// Arith.Add every 200 ms until finish, from a process of its own
// (startProber).
type siege struct {
	t      *testing.T
	p      *arithProc
	pid    int
	prober *prober // the fresh client, in a process of its own
	stop   chan struct{}
	done   sync.WaitGroup

	mu      sync.Mutex
	probes  int
	slowest time.Duration
	errs    []error
	retried []error // probes closed during their handshake, then served on a second try
	streak  int     // probes failed in a row, now
	worst   int     // the longest such run
	broken  error   // the probing process failed: no more probes
}

// besiege starts the example server and the probing client.
// needAttacks skips an attack test unless FERRY_ATTACKS=1: each keeps
// both cores busy for seconds and asserts the latency of fresh calls, so
// they run in a step of their own (bash .ci/run), not beside every other
// package's tests, where the machine's load, not the server, decides.
func needAttacks(t *testing.T) {
	t.Helper()
	if os.Getenv("FERRY_ATTACKS") != "1" {
		t.Skip("attack tests run alone: FERRY_ATTACKS=1 go test -race -run '^TestAttack' ./e2e (bash .ci/run does)")
	}
}

func besiege(t *testing.T) *siege {
	t.Helper()
	if testing.Short() {
		t.Skip("attacks the example server for several seconds")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("reads the server's RSS from /proc")
	}
	return siegeOn(t, startArith(t, buildArithServer(t)))
}

// siegeOn starts the probing client of p, the example server.
func siegeOn(t *testing.T, p *arithProc) *siege {
	t.Helper()
	s := &siege{t: t, p: p, pid: p.cmd.Process.Pid, stop: make(chan struct{})}
	pr, err := startProber(p.addr)
	require.NoError(t, err)
	s.prober = pr
	s.done.Add(1)
	go s.probeLoop()
	t.Cleanup(s.halt)
	return s
}

func (s *siege) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.done.Wait()
}

func (s *siege) probeLoop() {
	defer s.done.Done()
	defer s.prober.stop()
	tick := time.NewTicker(siegeProbeEvery)
	defer tick.Stop()
	for range 1000 { // at most 200 s
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
		r, err := s.prober.probe()
		if err != nil {
			s.mu.Lock()
			s.broken = err
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		s.probes++
		s.slowest = max(s.slowest, r.Took)
		if r.First != "" && r.Err == "" {
			s.retried = append(s.retried, fmt.Errorf("probe %d: %s", s.probes, r.First))
		}
		if r.Err != "" {
			s.errs = append(s.errs, fmt.Errorf("probe %d after %v: %s", s.probes, r.Took.Round(time.Millisecond), r.Err))
			s.streak++
			s.worst = max(s.worst, s.streak)
		} else {
			s.streak = 0
		}
		s.mu.Unlock()
	}
}

// probeAdd dials a fresh client and calls Arith.Add, within 2 s in all.
func probeAdd(addr string) (time.Duration, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), siegeProbeLimit)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return time.Since(start), err
	}
	defer c.Close()
	var sum int64
	if err := c.Call(ctx, "Arith.Add", arith.Args{A: 3, B: 4}, &sum); err != nil {
		return time.Since(start), err
	}
	if sum != 7 {
		return time.Since(start), fmt.Errorf("Arith.Add(3, 4) = %d", sum)
	}
	return time.Since(start), nil
}

// procStatus returns a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// procCPU returns the user and system time the process used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %q %q", pid, f[11], f[12])
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil // USER_HZ is 100 on Linux
}

// rss returns the server's resident set now.
func (s *siege) rss() int64 {
	s.t.Helper()
	v, err := procStatus(s.pid, "VmRSS")
	require.NoError(s.t, err)
	return v
}

// alive fails t if the server exited.
func (s *siege) alive() {
	s.t.Helper()
	select {
	case err := <-s.p.exited:
		s.p.exited <- err
		s.t.Fatalf("the server exited: %v; stderr: %s", err, s.p.stderr)
	default:
	}
}

// finish stops probing, checks the server is alive, answers, and stayed
// within its RSS bound, and logs the figures.
func (s *siege) finish() {
	s.t.Helper()
	s.halt()
	s.alive()
	took, err := probeAdd(s.p.addr)
	require.NoError(s.t, err, "a fresh call after the attack")
	hwm, err := procStatus(s.pid, "VmHWM")
	require.NoError(s.t, err)
	cpu, err := procCPU(s.pid)
	require.NoError(s.t, err)
	s.mu.Lock()
	defer s.mu.Unlock()
	require.NoError(s.t, s.broken, "the probing process")
	s.t.Logf("figures: RSS peak %.0f MiB (now %.0f MiB), server CPU %.2f s, %d probes, slowest %v, %d failed, %d served on a second dial, last %v",
		float64(hwm)/(1<<20), float64(s.rss())/(1<<20), cpu.Seconds(), s.probes,
		s.slowest.Round(time.Millisecond), len(s.errs), len(s.retried), took.Round(time.Millisecond))
	for _, err := range s.retried {
		s.t.Logf("closed during its handshake, served on a second dial: %v", err)
	}
	assert.LessOrEqual(s.t, len(s.retried), max(1, s.probes/10), "fresh clients closed during their handshake")
	assert.Less(s.t, hwm, int64(siegeRSSMax), "the server's RSS peak")
	// A lockout or a freeze fails probe after probe (38 of 50 did, before
	// the connection bounds made room for newcomers). One probe alone past
	// its 2 s, on a machine also running the attack and the -race test
	// process, is no lockout: at most one in 20, never two in a row (a
	// probe took 2.004 s once in a CI run of TestAttackNoWindowStreams).
	for _, err := range s.errs {
		s.t.Logf("failed: %v", err)
	}
	assert.LessOrEqual(s.t, len(s.errs), max(1, s.probes/20), "fresh calls that failed while the attack ran")
	assert.LessOrEqual(s.t, s.worst, 1, "fresh calls that failed in a row while the attack ran")
}

// until runs fn(i) for i = 0, 1, ... until d has passed or fn returns
// false, at most n times; it returns how many calls returned true.
func until(d time.Duration, n int, fn func(i int) bool) int {
	end := time.Now().Add(d)
	for i := range n {
		if time.Now().After(end) || !fn(i) {
			return i
		}
	}
	return n
}
