package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
)

// config is one run's settings.
type config struct {
	bin          string        // the server binary
	conns        int           // attacking connections (or workers, for many-connection attacks)
	duration     time.Duration // how long the attack runs
	after        time.Duration // how long the server is watched after the attack
	memCap       int64         // the server's address-space cap, and its RSS cap, in bytes
	size         int           // payload size; 0: the attack's own
	bombLen      uint32        // the array length the ext bomb declares
	probeEvery   time.Duration // how often a fresh client calls Arith.Add
	probeTimeout time.Duration // how long one such call may take
	slowMax      time.Duration // a probe slower than this counts as failed
	verbose      bool          // print every probe
}

// result is what one run measured.
type result struct {
	attack    string
	conns     int
	rssPeak   int64 // bytes, during and after
	rssAfter  int64 // bytes, at the end of the after window
	cpu       time.Duration
	addMax    time.Duration // the slowest probe, failed ones included
	addMaxAft time.Duration // the slowest probe started after the attack
	addFailed int           // probes that failed or took longer than slowMax
	probes    int
	fds       int // the server's most open files
	alive     bool
	capped    bool   // killed by us at the memory cap
	exit      string // the server's crash line, when it died
	note      string // what the attack itself saw
	counts    map[string]int64
}

func (r result) String() string {
	s := fmt.Sprintf("attack=%s conns=%d rss_peak_mib=%.0f rss_after_mib=%.0f cpu_s=%.2f add_max_ms=%d add_failed=%d alive=%t",
		r.attack, r.conns, mib(r.rssPeak), mib(r.rssAfter), r.cpu.Seconds(), r.addMax.Milliseconds(), r.addFailed, r.alive)
	s += fmt.Sprintf(" add_after_max_ms=%d probes=%d fds_peak=%d", r.addMaxAft.Milliseconds(), r.probes, r.fds)
	if r.capped {
		s += " capped=true"
	}
	if r.exit != "" {
		s += fmt.Sprintf(" exit=%q", r.exit)
	}
	if r.note != "" {
		s += " " + r.note
	}
	return s
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// runAttack starts a fresh server, runs a against it for cfg.duration
// while sampling the server and probing it with fresh clients, watches it
// for cfg.after more, and stops it.
func runAttack(ctx context.Context, cfg config, a attack) (result, error) {
	srv, err := startServer(cfg.bin, cfg.memCap)
	if err != nil {
		return result{}, err
	}
	defer srv.stop()
	base, err := readProc(srv.pid)
	if err != nil {
		return result{}, err
	}
	res := result{attack: a.name, conns: cfg.conns}
	smp := &sampler{pid: srv.pid, last: base, peak: base.hwm}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		smp.run(srv, cfg.memCap, stopSampling)
	}()
	pr := &prober{addr: srv.addr, timeout: cfg.probeTimeout, slow: cfg.slowMax, verbose: cfg.verbose, start: time.Now()}

	e := &env{addr: srv.addr, conns: cfg.conns, size: cfg.size, bombLen: cfg.bombLen}
	if e.size == 0 {
		e.size = a.size
	}
	actx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	attacked := make(chan struct{})
	go func() {
		defer close(attacked)
		a.run(actx, e)
	}()
	start := time.Now()
	end := start.Add(cfg.duration + cfg.after)
	pr.loop(ctx, cfg.probeEvery, end, attacked)
	select {
	case <-attacked:
	case <-time.After(30 * time.Second):
		e.add("attack_stuck", 1)
	}
	pr.wait()
	close(stopSampling)
	<-sampled

	res.rssPeak, res.rssAfter, res.cpu, res.fds = smp.peak, smp.last.rss, smp.last.cpu-base.cpu, smp.fds
	res.addMax, res.addMaxAft, res.addFailed, res.probes = pr.max, pr.maxAfter, pr.failed, pr.n
	res.alive = srv.alive()
	res.capped = srv.wasKilled()
	if !res.alive && !res.capped {
		res.exit = srv.stderr.summary()
	}
	if pr.firstErr != "" {
		e.note("add_err", pr.firstErr)
	}
	res.note = e.summary()
	res.counts = e.snapshot()
	return res, nil
}

// sampler follows a process's memory and CPU time.
type sampler struct {
	pid  int
	last procStats
	peak int64
	fds  int // the most open files seen
}

// run samples every 20 ms until stop, and kills the server if its RSS
// passes memCap.
func (s *sampler) run(srv *child, memCap int64, stop <-chan struct{}) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for i := 0; ; i++ {
		if i%10 == 0 { // every 200 ms: a long directory when there are many connections
			if n, err := countFDs(s.pid); err == nil {
				s.fds = max(s.fds, n)
			}
		}
		if st, err := readProc(s.pid); err == nil {
			s.last = st
			s.peak = max(s.peak, st.rss, st.hwm)
			if memCap > 0 && st.rss > memCap {
				srv.kill()
			}
		}
		select {
		case <-stop:
			return
		case <-srv.exited:
			return
		case <-t.C:
		}
	}
}

// prober makes one fresh Arith.Add call, on a new connection, every tick.
type prober struct {
	addr    string
	timeout time.Duration
	slow    time.Duration
	verbose bool      // print every probe to stderr
	start   time.Time // the attack's start
	wg      sync.WaitGroup

	mu       sync.Mutex
	n        int
	failed   int
	max      time.Duration
	maxAfter time.Duration
	firstErr string
}

// loop starts a probe every tick until end; probes started after
// attacked closes count towards maxAfter too.
func (p *prober) loop(ctx context.Context, every time.Duration, end time.Time, attacked <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; i < 100000 && time.Now().Before(end); i++ {
		after := false
		select {
		case <-attacked:
			after = true
		default:
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.probe(ctx, after)
		}()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *prober) probe(ctx context.Context, after bool) {
	start := time.Now()
	err := addCall(ctx, p.addr, p.timeout)
	took := time.Since(start)
	if p.verbose {
		fmt.Fprintf(os.Stderr, "probe at +%.1fs after=%t took %dms err=%v\n",
			start.Sub(p.start).Seconds(), after, took.Milliseconds(), err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.max = max(p.max, took)
	if after {
		p.maxAfter = max(p.maxAfter, took)
	}
	if err != nil || took > p.slow {
		p.failed++
		if err != nil && p.firstErr == "" {
			p.firstErr = err.Error()
		}
	}
}

func (p *prober) wait() { p.wg.Wait() }

// addCall dials addr with the Ferry client and calls Arith.Add once.
func addCall(ctx context.Context, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	var sum int64
	if err := c.Call(ctx, "Arith.Add", arith.Args{A: 20, B: 22}, &sum); err != nil {
		return err
	}
	if sum != 42 {
		return fmt.Errorf("Arith.Add(20, 22) = %d", sum)
	}
	return nil
}

// env is what an attack gets: where to attack, how hard, and a place for
// its own counts.
type env struct {
	addr    string
	conns   int
	size    int
	bombLen uint32

	mu     sync.Mutex
	sent   int64
	counts map[string]int64
	texts  map[string]string
}

// addSent counts bytes the attack sent.
func (e *env) addSent(n int) {
	e.mu.Lock()
	e.sent += int64(n)
	e.mu.Unlock()
}

// add adds n to the count named key.
func (e *env) add(key string, n int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.counts == nil {
		e.counts = map[string]int64{}
	}
	e.counts[key] += n
}

// note keeps the first text given for key.
func (e *env) note(key, text string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.texts == nil {
		e.texts = map[string]string{}
	}
	if _, ok := e.texts[key]; !ok {
		e.texts[key] = text
	}
}

// snapshot copies the counts.
func (e *env) snapshot() map[string]int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.counts)
}

// summary lists what the attack saw as key=value fields, sorted by key.
func (e *env) summary() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	fields := []string{fmt.Sprintf("sent_mib=%.0f", mib(e.sent))}
	for _, k := range slices.Sorted(maps.Keys(e.counts)) {
		fields = append(fields, fmt.Sprintf("%s=%d", k, e.counts[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(e.texts)) {
		fields = append(fields, fmt.Sprintf("%s=%q", k, e.texts[k]))
	}
	return strings.Join(fields, " ")
}
