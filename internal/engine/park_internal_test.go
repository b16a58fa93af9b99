package engine

import (
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parkedPair runs two channels over one stream of a session pair; the
// second answers the control method $test.ping with "pong".
func parkedPair(t *testing.T) (a, b *Channel, ba, bb *transport.Budget) {
	t.Helper()
	ba, bb = transport.NewBudget(1<<20, nil), transport.NewBudget(1<<20, nil)
	a, b = sessionPair(t, Options{Budget: ba}, Options{Budget: bb, Control: pong})
	return a, b, ba, bb
}

// pong answers every control call with "pong".
func pong(string, []byte) (any, error) { return "pong", nil }

// sessionPair runs a channel with options ao over a stream opened on a
// session pair, and one with bo over the stream as the other side accepts
// it, once a's first call ($test.ping, which bo must answer) arrives.
func sessionPair(t *testing.T, ao, bo Options) (a, b *Channel) {
	t.Helper()
	p1, p2 := net.Pipe()
	cfg := transport.DefaultConfig()
	cs, err := transport.Client(p1, cfg)
	require.NoError(t, err)
	ss, err := transport.Server(p2, cfg)
	require.NoError(t, err)
	accepted := make(chan net.Conn, 1)
	go func() {
		st, _ := ss.Accept()
		accepted <- st
	}()
	ca, err := cs.Open(t.Context())
	require.NoError(t, err)
	a = New(ca, ao)
	a.Start()
	// The server accepts once the first frame (a's first call) arrives.
	call := make(chan error, 1)
	go func() {
		var reply string
		call <- a.ControlCall(t.Context(), "$test.ping", nil, &reply)
	}()
	cb := <-accepted
	require.NotNil(t, cb)
	b = New(cb, bo)
	b.Start()
	require.NoError(t, <-call)
	t.Cleanup(func() {
		assert.NoError(t, a.Close())
		assert.NoError(t, b.Close())
		assert.NoError(t, cs.Close())
		<-ss.Done()
		assert.NoError(t, ss.Close())
	})
	return a, b
}

// parked reports whether c's reader is parked: its goroutine returned,
// leaving the stream to start it again.
func parked(c *Channel) bool {
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	return c.idleT == nil && !c.idleOff
}

// waitParked polls (up to 10 s) until c's reader parks.
func waitParked(t *testing.T, c *Channel) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(10 * time.Second); !parked(c) && time.Now().Before(end); {
		<-tick.C
	}
	require.True(t, parked(c), "the reader of an idle stream parks")
}

// TestReaderParks: the readers of an idle session stream park, giving
// back their buffers' charge, and start again when a message arrives;
// closing a channel whose reader is parked returns.
func TestReaderParks(t *testing.T) {
	a, b, ba, bb := parkedPair(t)
	for round := range 3 {
		waitParked(t, a)
		waitParked(t, b)
		assert.Zero(t, ba.Used(), "round %d: a parked reader holds no buffer", round)
		assert.Zero(t, bb.Used(), "round %d: a parked reader holds no buffer", round)
		var reply string
		require.NoError(t, a.ControlCall(t.Context(), "$test.ping", nil, &reply))
		assert.Equal(t, "pong", reply)
	}
	waitParked(t, b)
	require.NoError(t, b.Close()) // wakes the parked reader, which returns
	select {
	case <-b.readDone:
	default:
		t.Fatal("Close returned before the reader did")
	}
}

// TestReaderWithoutParkStaysUp: over a stream that cannot park (a bare
// connection), the reader never arms the idle timer.
func TestReaderWithoutParkStaysUp(t *testing.T) {
	p1, p2 := net.Pipe()
	c := New(p1, Options{})
	c.Start()
	defer func() {
		p2.Close()
		c.Close()
	}()
	assert.Nil(t, c.pk)
	c.rdMu.Lock()
	assert.Nil(t, c.idleT)
	c.rdMu.Unlock()
}

// TestIdleTimerSparesBusyReader: the idle timer wakes the reader only
// while it waits in Next for a new message, never while it handles one
// or reads a body (a deadline there would fail the conn).
func TestIdleTimerSparesBusyReader(t *testing.T) {
	p1, p2 := net.Pipe()
	cs, err := transport.Client(p1, transport.DefaultConfig())
	require.NoError(t, err)
	ss, err := transport.Server(p2, transport.DefaultConfig())
	require.NoError(t, err)
	defer func() {
		assert.NoError(t, cs.Close())
		<-ss.Done()
		assert.NoError(t, ss.Close())
	}()
	st, err := cs.Open(t.Context())
	require.NoError(t, err)
	c := New(st, Options{}) // not started: the test plays its reader
	c.idleT = time.AfterFunc(time.Hour, func() {})
	defer c.idleT.Stop()
	noDeadline := func() bool {
		if c.pk.Park(func() {}) { // refused while a read deadline is set
			require.NoError(t, c.pk.SetReadDeadline(time.Time{})) // withdraws it
			return true
		}
		return false
	}
	c.quiet.Store(true)
	c.idleCheck() // the reader is busy
	c.rdMu.Lock()
	assert.False(t, c.parkReq)
	c.rdMu.Unlock()
	assert.True(t, noDeadline(), "no deadline for a busy reader")
	c.rdWait.Store(true)
	c.quiet.Store(true)
	c.idleCheck() // the reader waits for a message
	c.rdMu.Lock()
	assert.True(t, c.parkReq)
	c.rdMu.Unlock()
	assert.False(t, noDeadline(), "a waiting reader is woken")
	c.unpark()
	assert.True(t, noDeadline(), "unpark withdraws the deadline")
}
