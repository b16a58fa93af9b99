package demo

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry/cluster"
)

// drive runs the callers for cfg.Duration while the script kills and
// restarts the first server.
func drive(ctx context.Context, cfg Config, cl *cluster.Client, children []*child, index map[string]int, logf func(string, ...any)) (Summary, error) {
	st := &stats{per: make([]atomic.Int64, len(children)), index: index}
	rctx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var wg sync.WaitGroup
	for range cfg.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.caller(ctx, rctx, cl, cfg.Pace)
		}()
	}

	var sum Summary
	start := time.Now()
	if cfg.KillAt > 0 && cfg.KillAt < cfg.Duration && waitUntil(rctx, start.Add(cfg.KillAt)) {
		victim := children[0]
		victim.kill()
		killed := time.Now()
		logf("killed %s (%s) with SIGKILL at %v", victim.name, victim.addr, killed.Sub(start).Round(time.Millisecond))
		sum.LeftRotation = leftRotation(rctx, cl, victim.addr, killed)
		logf("%s left rotation %v after the kill", victim.name, sum.LeftRotation.Round(time.Microsecond))
		if cfg.RestartAt > cfg.KillAt && cfg.RestartAt < cfg.Duration && waitUntil(rctx, start.Add(cfg.RestartAt)) {
			c, err := startChild(victim.name, victim.addr, nil)
			if err != nil {
				stop()
				wg.Wait()
				return sum, err
			}
			children[0] = c
			st.upAt.Store(time.Now().UnixNano())
			logf("restarted %s at %v", victim.name, time.Since(start).Round(time.Millisecond))
		}
	}
	<-rctx.Done()
	wg.Wait()
	sum.Calls, sum.OK, sum.Failed = st.calls.Load(), st.ok.Load(), st.failed.Load()
	for i := range st.per {
		sum.PerServer = append(sum.PerServer, st.per[i].Load())
	}
	if p := st.pickup.Load(); p > 0 {
		sum.Pickup = time.Duration(p)
		logf("%s served its first call %v after it was up again", children[0].name, sum.Pickup.Round(time.Microsecond))
	}
	return sum, nil
}

// stats are the callers' counters.
type stats struct {
	calls, ok, failed atomic.Int64
	per               []atomic.Int64 // successful calls per server
	index             map[string]int // server name → index in per
	upAt              atomic.Int64   // unix nanos: the restarted first server is up
	pickup            atomic.Int64   // nanoseconds from upAt to its first served call
}

// caller calls until rctx ends, each call bounded by 5 s.
func (st *stats) caller(ctx, rctx context.Context, cl *cluster.Client, pause time.Duration) {
	for rctx.Err() == nil {
		var who string
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := cl.Call(cctx, "Demo.Who", struct{}{}, &who)
		cancel()
		st.calls.Add(1)
		if err != nil {
			st.failed.Add(1)
		} else {
			st.ok.Add(1)
			i := st.index[who]
			st.per[i].Add(1)
			if up := st.upAt.Load(); i == 0 && up != 0 {
				st.pickup.CompareAndSwap(0, time.Now().UnixNano()-up)
			}
		}
		if pause > 0 {
			pace(rctx, pause)
		}
	}
}

// leftRotation polls the client until it no longer calls addr, and
// returns how long that took from since.
func leftRotation(ctx context.Context, cl *cluster.Client, addr string, since time.Time) time.Duration {
	for ctx.Err() == nil {
		using := false
		for _, e := range cl.Endpoints() {
			if e.Addr == addr && (e.State == "ready" || e.State == "half-open") {
				using = true
			}
		}
		if !using {
			return time.Since(since)
		}
		pace(ctx, 100*time.Microsecond)
	}
	return time.Since(since)
}

func waitUntil(ctx context.Context, at time.Time) bool {
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func pace(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
