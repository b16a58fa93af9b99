package demo

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/server"
)

// childEnv carries "NAME ADDR" to a server child process.
const childEnv = "FERRY_DEMO_SERVER"

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
