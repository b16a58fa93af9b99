// Command killserver is a Ferry server for the end-to-end test that kills
// its process mid-call. It listens on a loopback port, prints the address
// as its first line of output, and serves:
//
//   - Block.Wait: blocks until the call's context ends;
//   - Block.Started(n): returns once n Block.Wait calls are running.
//
// It exits by itself after -max (default 2 minutes), so a test that dies
// before killing it leaves nothing running for long.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/server"
)

// blockers counts running Block.Wait calls and wakes Block.Started
// waiters on every change.
type blockers struct {
	mu      sync.Mutex
	running int
	changed chan struct{}
}

func (b *blockers) add(d int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.running += d
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *blockers) wait(ctx context.Context, _ *struct{}) (*bool, error) {
	b.add(1)
	defer b.add(-1)
	<-ctx.Done()
	return nil, ctx.Err()
}

func (b *blockers) started(ctx context.Context, n *int) (*int, error) {
	for {
		b.mu.Lock()
		running, changed := b.running, b.changed
		b.mu.Unlock()
		if running >= *n {
			return &running, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func main() {
	maxLife := flag.Duration("max", 2*time.Minute, "exit after this long")
	flag.Parse()
	time.AfterFunc(*maxLife, func() { os.Exit(3) })

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	b := &blockers{changed: make(chan struct{})}
	s := server.New(server.WithMaxConcurrentCalls(4096))
	if err := server.Handle(s, "Block.Wait", b.wait); err != nil {
		panic(err)
	}
	if err := server.Handle(s, "Block.Started", b.started); err != nil {
		panic(err)
	}
	fmt.Println(l.Addr())
	if err := s.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
