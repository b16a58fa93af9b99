package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/server"
)

// childEnv carries "NAME ADDR" to a server child process.
const childEnv = "FERRY_DEMO_SERVER"

// ledgerEnv names the directory where server children record the ids of
// the Demo.Add calls they executed, one file per process.
const ledgerEnv = "FERRY_DEMO_LEDGER"

// AddArgs are the arguments of Demo.Add, the demo's call that is not
// idempotent: each runs a side effect that must happen once.
type AddArgs struct {
	ID string // unique per call
}

// ServeIfChild runs this process as one demo server when the parent
// started it so, and reports false otherwise. Call it first in main (and
// in TestMain), after parsing flags that the Discovery needs. A server
// prints "listening ADDR" on stdout once it serves and is registered, and
// stops gracefully (deregister, go-away, drain) on SIGTERM or when its
// standard input closes, so it never outlives its parent.
func ServeIfChild(d Discovery) bool {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return false
	}
	name, addr, _ := strings.Cut(spec, " ")
	if err := serveChild(d, name, addr); err != nil {
		fmt.Fprintln(os.Stderr, "server", name+":", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

func serveChild(d Discovery, name, addr string) error {
	srv := server.New()
	hs := health.NewServer()
	if err := hs.Register(srv); err != nil {
		return err
	}
	err := server.Handle(srv, "Demo.Who", func(ctx context.Context, _ *struct{}) (*string, error) {
		return &name, nil
	})
	if err != nil {
		return err
	}
	ledger, err := openLedger(name)
	if err != nil {
		return err
	}
	defer ledger.Close()
	// The side effect: the id goes to the ledger (one unbuffered append,
	// so that it survives a SIGKILL) before the reply.
	err = server.Handle(srv, "Demo.Add", func(ctx context.Context, a *AddArgs) (*string, error) {
		if _, err := ledger.WriteString(a.ID + "\n"); err != nil {
			return nil, err
		}
		return &name, nil
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	deregister, err := d.Register(ctx, name, l.Addr().String())
	cancel()
	if err != nil {
		srv.Close()
		return err
	}
	fmt.Printf("listening %s\n", l.Addr())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case <-stop:
	case <-stdinClosed:
	case err := <-served:
		return err
	}
	// Graceful: leave the registry first, then tell clients (health, then
	// go-away) and let running calls finish.
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = deregister(ctx)
	hs.Shutdown()
	return srv.Shutdown(ctx)
}

// openLedger opens this process's ledger file, or /dev/null when the
// parent gave no ledger directory.
func openLedger(name string) (*os.File, error) {
	dir := os.Getenv(ledgerEnv)
	if dir == "" {
		return os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.ids", name, os.Getpid()))
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}
