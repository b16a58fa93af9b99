package e2e_test

import (
	"context"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// pausingListener fails its first n Accepts with EMFILE, as a listener
// whose process ran out of file descriptors does, and tells failed when
// the n-th has been returned: Serve is then in its longest pause.
type pausingListener struct {
	net.Listener
	n      int32
	calls  atomic.Int32
	failed chan struct{}
}

func (l *pausingListener) Accept() (net.Conn, error) {
	switch c := l.calls.Add(1); {
	case c < l.n:
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	case c == l.n:
		close(l.failed)
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestVreview15CloseDuringAcceptPause: a Close or a Shutdown while Serve
// pauses after a failed Accept ends Serve and returns at once, as they
// promise: the listener must not drop out of the server's set during the
// pause, to be accepted on again after Close had closed the others, and
// Close must not wait out the pause (up to 1 s).
func TestVreview15CloseDuringAcceptPause(t *testing.T) {
	for _, how := range []string{"Close", "Shutdown"} {
		t.Run(how, func(t *testing.T) {
			s := server.New()
			inner, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			t.Cleanup(func() { inner.Close() })
			l := &pausingListener{Listener: inner, n: 7, failed: make(chan struct{})} // the 7th pause is 320 ms
			served := make(chan error, 1)
			go func() { served <- s.Serve(l) }()
			select {
			case <-l.failed:
			case <-time.After(10 * time.Second):
				t.Fatal("Serve did not accept 7 times within 10 s")
			}
			closed := make(chan error, 1)
			start := time.Now()
			go func() {
				if how == "Close" {
					closed <- s.Close()
					return
				}
				closed <- s.Shutdown(context.Background())
			}()
			select {
			case err := <-closed:
				require.NoError(t, err)
			case <-time.After(3 * time.Second):
				inner.Close() // let the test end
				t.Fatalf("%s did not return within 3 s of a pause after a failed Accept", how)
			}
			require.Less(t, time.Since(start), 200*time.Millisecond, "%s waited out the pause", how)
			select {
			case err := <-served:
				require.ErrorIs(t, err, server.ErrServerClosed)
			case <-time.After(3 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}
