package transport_test

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// streamPair opens a stream from the client session and accepts it on
// the server one.
func streamPair(t *testing.T, cs, ss *transport.Session) (*transport.Stream, *transport.Stream) {
	t.Helper()
	accepted := make(chan net.Conn, 1)
	go func() {
		st, err := ss.Accept()
		assert.NoError(t, err)
		accepted <- st
	}()
	c, err := cs.Open(t.Context())
	require.NoError(t, err)
	_, err = c.Write([]byte{1}) // the server's Accept needs a frame
	require.NoError(t, err)
	s := <-accepted
	require.NotNil(t, s)
	var b [1]byte
	_, err = s.Read(b[:])
	require.NoError(t, err)
	return c.(*transport.Stream), s.(*transport.Stream)
}

// resumer returns a resume func and a function that reports whether it
// was called (waiting up to 5 s for it when wait is true).
func resumer() (func(), func(wait bool) bool) {
	ch := make(chan struct{}, 2)
	return func() { ch <- struct{}{} }, func(wait bool) bool {
		if !wait {
			select {
			case <-ch:
				return true
			default:
				return false
			}
		}
		select {
		case <-ch:
			return true
		case <-time.After(5 * time.Second):
			return false
		}
	}
}

// TestStreamPark: a reader parks only while nothing waits to be read, and
// is resumed, once, by data, a read deadline, the peer's close and the
// session's end.
func TestStreamPark(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	defer func() {
		require.NoError(t, cs.Close())
		<-ss.Done()
		require.NoError(t, ss.Close())
	}()
	c, s := streamPair(t, cs, ss)

	// Data arrives: the parked reader is resumed and reads it.
	resume, called := resumer()
	require.True(t, s.Park(resume))
	assert.False(t, called(false), "nothing arrived yet")
	_, err := c.Write([]byte("ab"))
	require.NoError(t, err)
	require.True(t, called(true), "data resumes a parked reader")
	assert.False(t, s.Park(resume), "data waits: no parking")
	var b [2]byte
	_, err = s.Read(b[:])
	require.NoError(t, err)
	assert.False(t, called(false), "resume is called once")

	// A read deadline resumes it; while one is set, it does not park.
	require.True(t, s.Park(resume))
	require.NoError(t, s.SetReadDeadline(time.Unix(1, 0)))
	assert.True(t, called(false), "a deadline resumes a parked reader at once")
	assert.False(t, s.Park(resume), "a read deadline is set")
	require.NoError(t, s.SetReadDeadline(time.Time{}))

	// The peer's close resumes it, and then it does not park.
	require.True(t, s.Park(resume))
	require.NoError(t, c.Close())
	require.True(t, called(true), "the peer's close resumes a parked reader")
	assert.False(t, s.Park(resume))
	require.NoError(t, s.Close())

	// The session's end resumes readers parked on other streams.
	c2, s2 := streamPair(t, cs, ss)
	defer c2.Close()
	require.True(t, s2.Park(resume))
	require.NoError(t, ss.Close())
	assert.True(t, called(false), "the session's end resumes a parked reader")
	assert.False(t, s2.Park(resume))
}

// TestSessionOnEnd: OnEnd's fn runs once when the session ends, whoever
// ends it, and at once when it has already ended.
func TestSessionOnEnd(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	ended := make(chan string, 4)
	cs.OnEnd(func() { ended <- "client" })
	ss.OnEnd(func() { ended <- "server" })
	assert.Empty(t, ended, "nothing ended yet")
	require.NoError(t, cs.Close()) // the server's end follows from the broken connection
	got := map[string]bool{}
	for range 2 {
		select {
		case who := <-ended:
			got[who] = true
		case <-time.After(5 * time.Second):
			t.Fatal("a session ended without calling OnEnd's fn")
		}
	}
	assert.Equal(t, map[string]bool{"client": true, "server": true}, got)
	<-ss.Done()
	require.NoError(t, ss.Close())
	assert.Empty(t, ended, "fn runs once")
	cs.OnEnd(func() { ended <- "late" })
	assert.Equal(t, "late", <-ended, "an ended session calls fn at once")
}

// TestParkRacesEnds: readers park on many streams while the peer, at the
// same moment, sends data, closes or leaves the stream, this side closes
// some, and finally the session ends: each parked reader is resumed once
// and its goroutine returns.
func TestParkRacesEnds(t *testing.T) {
	defer goleak.VerifyNone(t)
	cs, ss := sessionPair(t)
	const n = 64
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			st, err := ss.Accept()
			if err != nil {
				return
			}
			accepted <- st
		}
	}()
	var readers sync.WaitGroup
	for i := range n {
		c, err := cs.Open(t.Context())
		require.NoError(t, err)
		_, err = c.Write([]byte{byte(i)}) // the server's Accept needs a frame
		require.NoError(t, err)
		s := (<-accepted).(*transport.Stream)
		var b [1]byte
		_, err = s.Read(b[:])
		require.NoError(t, err)
		var read func()
		// park parks s's reader, counting in the goroutine resume starts,
		// and reports whether it did.
		park := func() bool {
			readers.Add(1)
			var called atomic.Bool
			if s.Park(func() {
				assert.False(t, called.Swap(true), "resume is called once")
				go read()
			}) {
				return true
			}
			readers.Done()
			return false
		}
		read = func() { // a reader that parks whenever nothing waits
			defer readers.Done()
			var b [16]byte
			for {
				if _, err := s.Read(b[:]); err != nil {
					return
				}
				if park() {
					return
				}
			}
		}
		if !park() {
			readers.Add(1)
			go read()
		}
		go func() { // the peer, at once
			switch i % 4 {
			case 0:
				_, _ = c.Write([]byte("data"))
			case 1:
				_ = c.Close()
			case 2:
				_, _ = c.Write([]byte("data"))
				_ = c.Close()
			}
		}()
		if i%3 == 0 {
			go s.Close() // this side, at once
		}
	}
	require.NoError(t, cs.Close())
	<-ss.Done()
	require.NoError(t, ss.Close())
	done := make(chan struct{})
	go func() { readers.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a parked reader was not resumed")
	}
}
