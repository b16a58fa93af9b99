package demo

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/cluster"
)

// startFunc starts a server process (see startChild).
type startFunc func(name, addr string, logw io.Writer) (*child, error)

// drive runs the callers while the scenario stops and restarts servers.
func drive(ctx context.Context, cfg Config, cl *cluster.Client, children []*child, index map[string]int, start startFunc, logf func(string, ...any)) (Summary, error) {
	st := &stats{per: make([]atomic.Int64, len(children)), index: index}
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for i := range cfg.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.caller(ctx, rctx, cl, i, cfg.Pace)
		}()
	}

	var sum Summary
	var err error
	began := time.Now()
	end := began.Add(cfg.Duration)
	if cfg.Scenario == ScenarioRolling {
		err = rolling(ctx, cfg, st, children, began, start, &sum, logf)
	} else {
		err = kill(ctx, cfg, cl, st, children, began, start, &sum, logf)
	}
	if err == nil {
		waitUntil(ctx, end)
	}
	stop()
	wg.Wait()
	sum.Calls, sum.OK, sum.Failed = st.calls.Load(), st.ok.Load(), st.failed.Load()
	for i := range st.per {
		sum.PerServer = append(sum.PerServer, st.per[i].Load())
	}
	sum.added, sum.refused = st.added, st.refused
	return sum, err
}

// kill kills the first server with SIGKILL at cfg.KillAt and restarts it
// at cfg.RestartAt.
func kill(ctx context.Context, cfg Config, cl *cluster.Client, st *stats, children []*child, began time.Time, start startFunc, sum *Summary, logf func(string, ...any)) error {
	end := began.Add(cfg.Duration)
	if cfg.KillAt <= 0 || cfg.KillAt >= cfg.Duration || !waitUntil(ctx, began.Add(cfg.KillAt)) {
		return nil
	}
	victim := children[0]
	victim.kill()
	killed := time.Now()
	logf("killed %s (%s) with SIGKILL at %v", victim.name, victim.addr, killed.Sub(began).Round(time.Millisecond))
	lctx, cancel := context.WithDeadline(ctx, end)
	sum.LeftRotation = leftRotation(lctx, cl, victim.addr, killed)
	cancel()
	logf("%s left rotation %v after the kill", victim.name, sum.LeftRotation.Round(time.Microsecond))
	if cfg.RestartAt <= cfg.KillAt || cfg.RestartAt >= cfg.Duration || !waitUntil(ctx, began.Add(cfg.RestartAt)) {
		return nil
	}
	c, err := start(victim.name, victim.addr, nil)
	if err != nil {
		return err
	}
	children[0] = c
	up := time.Now()
	logf("restarted %s at %v", victim.name, up.Sub(began).Round(time.Millisecond))
	if back, ok := st.servedAgain(ctx, 0, end); ok {
		sum.Pickup = back.Sub(up)
		logf("%s served its first call %v after it was up again", victim.name, sum.Pickup.Round(time.Microsecond))
	}
	return nil
}

// rolling stops each server in turn gracefully (SIGTERM: deregister,
// go-away, drain) and starts it again at the same address, cfg.Rounds
// times, the steps spread evenly over cfg.Duration. Like a deploy, each
// step waits for the restarted server to serve calls before the next.
func rolling(ctx context.Context, cfg Config, st *stats, children []*child, began time.Time, start startFunc, sum *Summary, logf func(string, ...any)) error {
	steps := cfg.Rounds * len(children)
	gap := cfg.Duration / time.Duration(steps+1)
	for k := range steps {
		if !waitUntil(ctx, began.Add(time.Duration(k+1)*gap)) {
			return ctx.Err()
		}
		i := k % len(children)
		old := children[i]
		stopped := time.Now()
		old.stop()
		children[i] = nil
		c, err := start(old.name, old.addr, nil)
		if err != nil {
			return err
		}
		children[i] = c
		up := time.Now()
		back, ok := st.servedAgain(ctx, i, up.Add(15*time.Second))
		if !ok {
			return fmt.Errorf("ferry: demo: %s did not serve again within 15 s of its restart", old.name)
		}
		sum.Restarts++
		logf("round %d: %s stopped gracefully and started again in %v, back in rotation %v later", k/len(children)+1, old.name,
			up.Sub(stopped).Round(time.Millisecond), back.Sub(up).Round(time.Millisecond))
	}
	return nil
}

// stats are the callers' counters.
type stats struct {
	calls, ok, failed atomic.Int64
	per               []atomic.Int64 // successful calls per server
	index             map[string]int // server name → index in per

	mu      sync.Mutex
	added   []string // ids of the Demo.Add calls that succeeded
	refused []string // ids of the Demo.Add calls that failed as not executed
}

// caller calls until rctx ends, each call bounded by 5 s: Demo.Who and
// Demo.Add in turn, the latter with a unique id.
func (st *stats) caller(ctx, rctx context.Context, cl *cluster.Client, me int, pause time.Duration) {
	var added, refused []string
	prefix := "c" + strconv.Itoa(me) + "-"
	for n := 0; rctx.Err() == nil; n++ {
		var who, id string
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		var err error
		if n%2 == 0 {
			err = cl.Call(cctx, "Demo.Who", struct{}{}, &who)
		} else {
			id = prefix + strconv.Itoa(n)
			err = cl.Call(cctx, "Demo.Add", AddArgs{ID: id}, &who)
		}
		cancel()
		st.calls.Add(1)
		switch {
		case err == nil:
			st.ok.Add(1)
			if i, ok := st.index[who]; ok {
				st.per[i].Add(1)
			}
			if id != "" {
				added = append(added, id)
			}
		default:
			st.failed.Add(1)
			if id != "" && ferry.NotExecuted(err) {
				refused = append(refused, id)
			}
		}
		if pause > 0 {
			pace(rctx, pause)
		}
	}
	st.mu.Lock()
	st.added = append(st.added, added...)
	st.refused = append(st.refused, refused...)
	st.mu.Unlock()
}

// servedAgain waits, until deadline, for server i to serve a call, and
// returns when it saw it.
func (st *stats) servedAgain(ctx context.Context, i int, deadline time.Time) (time.Time, bool) {
	from := st.per[i].Load()
	for ctx.Err() == nil && time.Now().Before(deadline) {
		if st.per[i].Load() > from {
			return time.Now(), true
		}
		pace(ctx, 100*time.Microsecond)
	}
	return time.Time{}, false
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
