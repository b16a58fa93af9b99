// Command restart restarts one server process three times under load and
// refuses no call: each new process binds the same port as the old one
// (server.ListenReusePort, SO_REUSEPORT, Linux only) and starts serving;
// then the old one shuts down gracefully: its listener closes, so the
// kernel sends every new connection to the new process, and it drains
// what it has (go-away, running calls finish, the calls it never ran are
// refused as not executed). The client, a cluster.Client over that one
// address, sends no new call to the old process once it announces its
// go-away, redials at once (reaching the new process), and retries the
// refused calls there. The calls are not marked idempotent, so a call
// whose outcome were unknown would fail.
//
// The server processes are this binary run again (as a child, selected
// by an environment variable). It ends with one line:
//
//	calls=N ok=N failed=N restarts=3
//
//	go run ./examples/restart                # 8 callers, 10 s, 3 restarts
//	go run ./examples/restart -v -duration 4s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
)

// Config is what a run does.
type Config struct {
	Duration time.Duration // the whole run; the restarts are spread evenly over it
	Restarts int           // restarts of the server process
	Callers  int           // concurrent callers, each calling in a loop
	Pace     time.Duration // pause between one caller's calls
	Verbose  bool          // log progress
}

// Summary is the outcome of a run.
type Summary struct {
	Calls, OK, Failed int64
	Restarts          int
	PerProcess        []int64  // successful calls per server process, in start order
	Errors            []string // the first few failures
}

// String is the summary line: calls=N ok=N failed=N restarts=N.
func (s Summary) String() string {
	return fmt.Sprintf("calls=%d ok=%d failed=%d restarts=%d", s.Calls, s.OK, s.Failed, s.Restarts)
}

func main() {
	if serveIfChild() {
		return
	}
	cfg := Config{Duration: 10 * time.Second, Restarts: 3, Callers: 8, Pace: 100 * time.Microsecond}
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "length of the run")
	flag.IntVar(&cfg.Restarts, "restarts", cfg.Restarts, "restarts of the server process")
	flag.IntVar(&cfg.Callers, "callers", cfg.Callers, "concurrent callers")
	flag.DurationVar(&cfg.Pace, "pace", cfg.Pace, "pause between one caller's calls")
	flag.BoolVar(&cfg.Verbose, "v", cfg.Verbose, "log progress")
	flag.Parse()
	sum, err := run(context.Background(), cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "restart:", err)
		os.Exit(1)
	}
	fmt.Println(sum)
}

// run starts the first server, the client and its callers, and replaces
// the server process cfg.Restarts times.
func run(ctx context.Context, cfg Config, logw io.Writer) (Summary, error) {
	if cfg.Duration <= 0 || cfg.Callers < 1 || cfg.Restarts < 0 || cfg.Restarts > 100 {
		return Summary{}, fmt.Errorf("ferry: restart: bad configuration %+v", cfg)
	}
	logf := func(format string, args ...any) {
		if cfg.Verbose {
			fmt.Fprintf(logw, "restart: "+format+"\n", args...)
		}
	}
	cur, err := startChild(0, "127.0.0.1:0", logw)
	if err != nil {
		return Summary{}, err
	}
	defer func() { cur.stop() }()
	addr := cur.addr
	logf("process 0 (pid %d) serves %s", cur.cmd.Process.Pid, addr)

	cl, err := cluster.New(resolver.Static(addr))
	if err != nil {
		return Summary{}, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = cl.WaitReady(rctx, 1)
	cancel()
	if err != nil {
		return Summary{}, fmt.Errorf("the server did not become ready: %w", err)
	}

	per := make([]atomic.Int64, cfg.Restarts+1)
	var calls, ok, failed atomic.Int64
	var errMu sync.Mutex
	var errs []string
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for range cfg.Callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for cctx.Err() == nil {
				var gen int
				callCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := cl.Call(callCtx, "Restart.Generation", struct{}{}, &gen)
				cancel()
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					logf("call failed: %v", err)
					errMu.Lock()
					if len(errs) < 5 {
						errs = append(errs, fmt.Sprintf("%v: %v", time.Now().Format("15:04:05.000000"), err))
					}
					errMu.Unlock()
				} else {
					ok.Add(1)
					if gen >= 0 && gen < len(per) {
						per[gen].Add(1)
					}
				}
				pace(cctx, cfg.Pace)
			}
		}()
	}

	sum := Summary{}
	began := time.Now()
	gap := cfg.Duration / time.Duration(cfg.Restarts+1)
	for k := 1; k <= cfg.Restarts; k++ {
		if !waitUntil(ctx, began.Add(time.Duration(k)*gap)) {
			break
		}
		t0 := time.Now()
		next, err := startChild(k, addr, logw) // binds the same port while the old one serves
		if err != nil {
			stop()
			wg.Wait()
			return sum, err
		}
		up := time.Since(t0)
		old := cur
		cur = next
		old.stop() // SIGTERM: the old process closes its listener and drains
		sum.Restarts++
		logf("process %d (pid %d) serves %s after %v; process %d drained and exited %v later",
			k, next.cmd.Process.Pid, addr, up.Round(time.Millisecond), k-1, (time.Since(t0) - up).Round(time.Millisecond))
	}
	waitUntil(ctx, began.Add(cfg.Duration))
	stop()
	wg.Wait()
	sum.Calls, sum.OK, sum.Failed = calls.Load(), ok.Load(), failed.Load()
	for i := range per {
		sum.PerProcess = append(sum.PerProcess, per[i].Load())
	}
	sum.Errors = errs
	logf("successful calls per process: %v", sum.PerProcess)
	return sum, nil
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
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
