// Package ferrytest serves a *server.Server and dials it, for tests: over
// 127.0.0.1:0 TCP or over one in-memory net.Pipe, with everything closed
// and waited for when the test ends, so that goleak finds nothing left.
//
// Only packages of the root module's tree can import it (internal/): the
// nested modules keep their own few lines, so that their tests never
// depend on an internal API of another module version.
package ferrytest

import (
	"errors"
	"net"
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// Serve serves s on a new 127.0.0.1:0 listener and returns its address.
// When the test ends, s is closed and Serve's return is waited for.
func Serve(tb testing.TB, s *server.Server) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("ferrytest: listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	tb.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil && !errors.Is(err, server.ErrServerClosed) {
			tb.Errorf("ferrytest: Serve returned %v", err)
		}
	})
	return l.Addr().String()
}

// Dial connects a client to addr, failing the test if it cannot; the
// client is closed when the test ends (before a server that Serve started
// earlier in the test).
func Dial(tb testing.TB, addr string, opts ...client.Option) *client.Client {
	tb.Helper()
	c, err := client.Dial(tb.Context(), addr, opts...)
	if err != nil {
		tb.Fatalf("ferrytest: dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// ServeAndDial is Serve followed by Dial of the address it returned.
func ServeAndDial(tb testing.TB, s *server.Server, opts ...client.Option) (*client.Client, string) {
	tb.Helper()
	addr := Serve(tb, s)
	return Dial(tb, addr, opts...), addr
}

// Pipe serves s on one end of a net.Pipe and returns a client on the other:
// no network, one connection. When the test ends, the client and s are
// closed and ServeConn's return is waited for.
func Pipe(tb testing.TB, s *server.Server, opts ...client.Option) *client.Client {
	tb.Helper()
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.ServeConn(sc) // its error is the client's closing
	}()
	c, err := client.New(cc, opts...)
	if err != nil {
		cc.Close()
		s.Close()
		<-done
		tb.Fatalf("ferrytest: client over a pipe: %v", err)
	}
	tb.Cleanup(func() {
		c.Close()
		s.Close()
		<-done
	})
	return c
}
