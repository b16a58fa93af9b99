package bench

import (
	"context"
	"fmt"
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
}

// IdleSettle is how long the connections sit idle before memory is read:
// a connection that is idle for real has been idle for seconds, and some
// systems (Ferry) let per-connection goroutines exit after a second or two
// without work.
var IdleSettle = 3 * time.Second

// Idle opens n connections to one server of sys, makes one echo call on
// each (so lazily built state exists, as on any connection in use), lets
// them sit idle for IdleSettle, and divides the growth of the process's
// memory by n.
func Idle(ctx context.Context, sys System, n int) (IdleResult, error) {
	srv, err := sys.Listen()
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
	for range n {
		c, err := srv.Dial(ctx)
		if err != nil {
			return IdleResult{}, fmt.Errorf("%s: dial: %w", sys.Name(), err)
		}
		clients = append(clients, c)
		if err := callOnce(ctx, c); err != nil {
			return IdleResult{}, fmt.Errorf("%s: %w", sys.Name(), err)
		}
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
	f := float64(n)
	return IdleResult{
		System:       sys.Name(),
		Conns:        n,
		RSSPerConn:   (float64(after.RSS) - float64(before.RSS)) / f,
		HeapPerConn:  (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / f,
		StackPerConn: (float64(after.StackInuse) - float64(before.StackInuse)) / f,
		GoroutinesPC: float64(after.Goroutines-before.Goroutines) / f,
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
