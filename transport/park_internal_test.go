package transport

import (
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// stacksShow reports whether some goroutine's stack holds every one of
// the function names in fns.
func stacksShow(fns ...string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
next:
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range fns {
			if !strings.Contains(g, fn) {
				continue next
			}
		}
		return true
	}
	return false
}

// rawPeerServer returns a server session without keepalive pings over a
// pipe, and the pipe's other end, for a test to write raw frames to;
// what the server sends is read and dropped.
func rawPeerServer(t *testing.T) (*Session, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	cfg := DefaultConfig()
	cfg.KeepAliveInterval = 0
	ss, err := Server(a, cfg)
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, b) }()
	return ss, b
}

// TestParkDuringFrameBodyAndEnd: a reader parks while yamux's receive
// loop copies the body of a data frame for its stream (holding the
// stream's receive lock), and the connection breaks before the body is
// whole. The session's end, run by the receive loop, wakes the stream;
// neither may wait for the other: Park returns, and so does Close.
func TestParkDuringFrameBodyAndEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	ss, b := rawPeerServer(t)

	_, err := b.Write(frame(1, flagSYN, 1, 0)) // the raw peer opens stream 1
	require.NoError(t, err)
	c, err := ss.Accept()
	require.NoError(t, err)
	st := c.(*Stream)

	// A data frame for stream 1 whose body stops short: the receive loop
	// waits for the rest while it holds the stream's receive lock.
	_, err = b.Write(append(frame(0, 0, 1, 100), make([]byte, 10)...))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stacksShow("yamux.(*Stream).readData") },
		5*time.Second, time.Millisecond, "the receive loop copies the body")

	parked := make(chan bool, 1)
	go func() { parked <- st.Park(func() {}) }()
	require.Eventually(t, func() bool { return stacksShow("transport.(*Stream).Park", "yamux.(*Stream).Shrink") },
		5*time.Second, time.Millisecond, "Park waits for the receive lock")

	require.NoError(t, b.Close()) // the connection breaks: the receive loop ends the session
	select {
	case p := <-parked:
		assert.False(t, p, "data was on its way: no parking")
	case <-time.After(5 * time.Second):
		t.Fatal("Park and the session's end wait for each other")
	}
	closed := make(chan error, 1)
	go func() { closed <- ss.Close() }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs")
	}
	_ = st.Close()
}
