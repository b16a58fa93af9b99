package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/server"
)

// childEnv carries "GENERATION ADDR" to a server child process.
const childEnv = "FERRY_RESTART_SERVER"

// serveIfChild runs this process as a server when the parent started it
// so, and reports false otherwise.
func serveIfChild() bool {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return false
	}
	gen, addr, _ := strings.Cut(spec, " ")
	if err := serveChild(gen, addr); err != nil {
		fmt.Fprintln(os.Stderr, "server", gen+":", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// serveChild listens on addr with SO_REUSEPORT (the previous process may
// still be listening there), serves, says "listening ADDR" on stdout, and
// shuts down gracefully on SIGTERM or when its standard input closes.
func serveChild(genS, addr string) error {
	gen, err := strconv.Atoi(genS)
	if err != nil {
		return err
	}
	srv := server.New()
	if err := health.NewServer().Register(srv); err != nil {
		return err
	}
	err = server.Handle(srv, "Restart.Generation", func(context.Context, *struct{}) (*int, error) { return &gen, nil })
	if err != nil {
		return err
	}
	l, err := server.ListenReusePort(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
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
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// child is one server process.
type child struct {
	addr  string
	cmd   *exec.Cmd
	stdin io.Closer
}

// startChild starts server process gen at addr and waits until it serves.
func startChild(gen int, addr string, logw io.Writer) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d %s", childEnv, gen, addr))
	cmd.Stderr = logw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(out).ReadString('\n')
	if a, ok := strings.CutPrefix(strings.TrimSpace(line), "listening "); ok && err == nil {
		c.addr = a
		return c, nil
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	return nil, fmt.Errorf("server %d did not start (%q, %v)", gen, line, err)
}

// stop ends the process gracefully: SIGTERM, then its shutdown (killed
// after 15 s).
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.stdin.Close()
}
