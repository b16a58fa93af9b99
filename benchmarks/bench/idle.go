package bench

import (
	"context"
	"fmt"
	"runtime/pprof"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/internal/procstat"
)

// IdleResult is the memory that idle connections hold, per connection,
// client and server ends together.
type IdleResult struct {
	System       string
	Conns        int
	RSSPerConn   float64 // resident memory, bytes
	HeapPerConn  float64 // live Go heap, bytes
	StackPerConn float64 // goroutine stacks, bytes
	GoroutinesPC float64 // goroutines per connection
	// ClientGoroutinesPC and ServerGoroutinesPC split GoroutinesPC by the
	// end that started them (directly or through goroutines it started);
	// goroutines started by neither (a timer's callback) are in neither.
	ClientGoroutinesPC float64
	ServerGoroutinesPC float64
}

// endLabel is the profiler label whose value, "client" or "server", tells
// which end of the idle connections started a goroutine: goroutines
// inherit their starter's labels.
const endLabel = "ferrybench.end"

// IdleSettle is how long the connections sit idle before memory is read:
// a connection that is idle for real has been idle for seconds, and some
// systems (Ferry) let per-connection goroutines exit after a second or two
// without work.
var IdleSettle = 3 * time.Second

// Idle opens n connections to one server of sys, makes one echo call on
// each (so lazily built state exists, as on any connection in use), lets
// them sit idle for IdleSettle, and divides the growth of the process's
// memory by n. The server is started, and the clients dialed, under a
// profiler label that tells the goroutines of the two ends apart.
func Idle(ctx context.Context, sys System, n int) (IdleResult, error) {
	var srv Server
	var err error
	pprof.Do(ctx, pprof.Labels(endLabel, "server"), func(context.Context) { srv, err = sys.Listen() })
	if err != nil {
		return IdleResult{}, fmt.Errorf("%s: listen: %w", sys.Name(), err)
	}
	defer srv.Close()
	clients := make([]Client, 0, n)
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	procstat.Settle()
	before, err := procstat.ReadMemory()
	if err != nil {
		return IdleResult{}, err
	}
	endsBefore, err := procstat.GoroutinesByLabel(endLabel)
	if err != nil {
		return IdleResult{}, err
	}
	pprof.Do(ctx, pprof.Labels(endLabel, "client"), func(ctx context.Context) {
		for range n {
			var c Client
			if c, err = srv.Dial(ctx); err != nil {
				err = fmt.Errorf("%s: dial: %w", sys.Name(), err)
				return
			}
			clients = append(clients, c)
			if err = callOnce(ctx, c); err != nil {
				err = fmt.Errorf("%s: %w", sys.Name(), err)
				return
			}
		}
	})
	if err != nil {
		return IdleResult{}, err
	}
	select {
	case <-time.After(IdleSettle):
	case <-ctx.Done():
		return IdleResult{}, ctx.Err()
	}
	procstat.Settle()
	after, err := procstat.ReadMemory()
	if err != nil {
		return IdleResult{}, err
	}
	endsAfter, err := procstat.GoroutinesByLabel(endLabel)
	if err != nil {
		return IdleResult{}, err
	}
	f := float64(n)
	growth := func(end string) float64 { return float64(endsAfter[end]-endsBefore[end]) / f }
	return IdleResult{
		System:       sys.Name(),
		Conns:        n,
		RSSPerConn:   (float64(after.RSS) - float64(before.RSS)) / f,
		HeapPerConn:  (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / f,
		StackPerConn: (float64(after.StackInuse) - float64(before.StackInuse)) / f,
		GoroutinesPC: float64(after.Goroutines-before.Goroutines) / f,

		ClientGoroutinesPC: growth("client"),
		ServerGoroutinesPC: growth("server"),
	}, nil
}

// callOnce makes one checked echo call of the message on c.
func callOnce(ctx context.Context, c Client) error {
	switch c := c.(type) {
	case SyncClient:
		cl, err := c.NewCaller(Workload{})
		if err != nil {
			return err
		}
		if err := cl.Call(ctx); err != nil {
			return err
		}
		return cl.Check()
	case AsyncClient:
		p, err := c.NewPipeline(Workload{}, 1)
		if err != nil {
			return err
		}
		p.Start(ctx, 0)
		if err := p.Wait(0); err != nil {
			return err
		}
		return p.Check(0)
	default:
		return fmt.Errorf("bench: client %T is neither a SyncClient nor an AsyncClient", c)
	}
}
