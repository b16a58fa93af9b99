// Command server serves the arith example's services (package
// examples/arith/arith) to Ferry clients and to plain MessagePack-RPC
// clients in any language, on one TCP port:
//
//	go run ./examples/arith/server -addr 127.0.0.1:7000
//
// It serves the methods package arith lists (Arith.Add, Arith.Div,
// Arith.Mul, Echo.Echo, Echo.Map, and the streams Counter.Count and
// Echo.Chat), introspection (Introspect.List and Introspect.Describe, for
// "ferry list" and "ferry describe") and health (Health.Check), with the
// server's default options.
//
// Like any Go service exposed to the network it runs with a Go memory
// limit (GOMEMLIMIT, or -memlimit: 192 MiB by default): the collector keeps
// the heap under it, and the server's memory budget for all connections
// defaults to a quarter of it (see SECURITY.md).
//
// Its first line on stdout is "listening on HOST:PORT", with the port the
// system chose when -addr ends in ":0". SIGINT or SIGTERM shuts it down
// gracefully: running calls finish (for at most -grace), then it exits 0
// when they all finished, 1 when -grace cut them off.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
)

func main() {
	o := defineFlags(flag.CommandLine)
	flag.Parse()
	setMemoryLimit(o.memLimit)
	log.SetFlags(0)
	log.SetPrefix("arith server: ")
	if err := run(o.addr, o.grace); err != nil {
		log.Fatal(err)
	}
}

// options are the server's flags.
type options struct {
	addr     string
	grace    time.Duration
	memLimit int64
}

// defineFlags defines the server's flags on fs.
func defineFlags(fs *flag.FlagSet) *options {
	o := &options{}
	fs.StringVar(&o.addr, "addr", "127.0.0.1:7000", "TCP address to listen on; port 0 picks a free one")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "how long a shutdown waits for running calls")
	fs.Int64Var(&o.memLimit, "memlimit", 192<<20, "the Go memory limit in bytes, unless GOMEMLIMIT is set; 0: none")
	return o
}

// setMemoryLimit sets the Go memory limit to limit bytes, unless
// GOMEMLIMIT is set or limit is 0. The collector keeps the heap under the
// limit, the server's memory budget defaults to a quarter of it
// (server.DefaultMemoryBudget), and its connection bounds to one
// connection per 64 KiB of it (server.DefaultConnLimits).
func setMemoryLimit(limit int64) {
	if os.Getenv("GOMEMLIMIT") == "" && limit > 0 {
		debug.SetMemoryLimit(limit)
	}
}

func run(addr string, grace time.Duration) error {
	s := server.New()
	hs := health.NewServer()
	if err := errors.Join(arith.Register(s), introspect.Register(s), hs.Register(s)); err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	// Scripts read this line to find the port.
	fmt.Printf("listening on %s\n", l.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	select {
	case err := <-served: // the listener failed
		s.Close()
		return err
	case <-ctx.Done():
	}
	log.Print("shutting down")
	hs.Shutdown() // health checks report NOT_SERVING while calls drain
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := s.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, server.ErrServerClosed) {
		return err
	}
	log.Print("stopped")
	return nil
}
