package e2e_test

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingListener fails its first n Accepts with err, as a listener
// whose process ran out of file descriptors does, then accepts.
type failingListener struct {
	net.Listener
	err    error
	n      int32
	failed atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.failed.Load() < l.n {
		l.failed.Add(1)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: l.err}
	}
	return l.Listener.Accept()
}

// TestServeSurvivesResourceErrors: an Accept that fails for want of a
// resource (too many open files, in the process or the system; no
// buffer space; no memory) is retried after a pause, as net/http's
// server does: an attacker who opens connections past the process's
// open-file limit must not make Serve close its listener and return,
// which ended a server that runs log.Fatal(s.Serve(l)).
func TestServeSurvivesResourceErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		t.Run(errno.Error(), func(t *testing.T) {
			s := server.New()
			require.NoError(t, arith.Register(s))
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			l := &failingListener{Listener: inner, err: os.NewSyscallError("accept4", errno), n: 3}
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			t.Cleanup(func() {
				s.Close()
				select {
				case <-served:
				case <-time.After(5 * time.Second):
					t.Error("Serve did not return within 5 s of Close")
				}
			})
			c, err := client.Dial(t.Context(), inner.Addr().String())
			require.NoError(t, err, "Serve went on accepting after %d failed Accepts", l.n)
			defer c.Close()
			var sum int64
			require.NoError(t, c.Call(t.Context(), "Arith.Add", arith.Args{A: 3, B: 4}, &sum))
			assert.EqualValues(t, 7, sum)
			assert.EqualValues(t, 3, l.failed.Load())
			select {
			case err := <-served:
				t.Fatalf("Serve returned: %v", err)
			default:
			}
		})
	}
}
