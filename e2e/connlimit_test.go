package e2e_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// dialFrom dials addr from the loopback address from (127.0.0.x) and
// starts a Ferry client on the connection, closed at cleanup.
func dialFrom(t *testing.T, addr, from string) *client.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	nc, err := d.DialContext(t.Context(), "tcp", addr)
	require.NoError(t, err)
	c, err := client.New(nc)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// add makes one call on c and reports its error.
func add(c *client.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Call(ctx, "Arith.Add", testsvc.Args{A: 1, B: 2}, new(int64))
}

// allQuiet reports whether the server holds n connections, all quiet.
func allQuiet(s *server.Server, n int) bool {
	conns := s.Conns()
	for _, ci := range conns {
		if ci.QuietSince.IsZero() {
			return false
		}
	}
	return len(conns) == n
}

// holdCalls registers Hold.Hold on s: a call that runs until release is
// closed (or its context ends) and then returns true; each start is sent
// on started (room for 8).
func holdCalls(t *testing.T, s *server.Server) (release, started chan struct{}) {
	t.Helper()
	release, started = make(chan struct{}), make(chan struct{}, 8)
	require.NoError(t, server.Handle(s, "Hold.Hold", func(ctx context.Context, _ *struct{}) (*bool, error) {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		ok := true
		return &ok, nil
	}))
	return release, started
}

// settledAt waits until the server holds n connections: a connection
// closed to make room is closed after its go-away, a moment after the
// newcomer was let in.
func settledAt(t *testing.T, s *server.Server, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return len(s.Conns()) == n }, 5*time.Second, time.Millisecond,
		"the connection that made room is gone")
}

// TestConnLimitsCloseQuietConnections checks server.WithConnLimits and
// SECURITY.md: at a bound, when every connection has sent a complete
// message, a quiet one (nothing arriving, no call in progress, no stream)
// is closed to make room, from the address holding the most connections
// (the same address for the per-IP bound); a connection with a call in
// progress is never closed for it.
func TestConnLimitsCloseQuietConnections(t *testing.T) {
	t.Run("the address holding the most loses first", func(t *testing.T) {
		s := newServer(t, server.WithConnLimits(4, 0))
		addr := listen(t, s)
		// The other address's connection is the oldest, quiet the longest.
		other := dialFrom(t, addr, "127.0.0.3")
		require.NoError(t, add(other))
		var flood []*client.Client
		for range 3 {
			c := dialFrom(t, addr, "127.0.0.2")
			require.NoError(t, add(c))
			flood = append(flood, c)
		}
		require.Eventually(t, func() bool { return allQuiet(s, 4) }, 5*time.Second, 5*time.Millisecond)

		fresh := dialFrom(t, addr, "127.0.0.4")
		require.NoError(t, add(fresh), "a newcomer is served at the bound")
		settledAt(t, s, 4)
		assert.NoError(t, add(other), "the lone address's connection is kept")
		lost := 0
		for _, c := range flood {
			if add(c) != nil {
				lost++
			}
		}
		assert.Equal(t, 1, lost, "one connection of the address holding the most made room")
	})

	t.Run("per-IP bound: the same address loses", func(t *testing.T) {
		s := newServer(t, server.WithConnLimits(0, 2))
		addr := listen(t, s)
		other := dialFrom(t, addr, "127.0.0.3")
		require.NoError(t, add(other))
		a1 := dialFrom(t, addr, "127.0.0.2")
		require.NoError(t, add(a1))
		a2 := dialFrom(t, addr, "127.0.0.2")
		require.NoError(t, add(a2))
		require.Eventually(t, func() bool { return allQuiet(s, 3) }, 5*time.Second, 5*time.Millisecond)

		a3 := dialFrom(t, addr, "127.0.0.2")
		require.NoError(t, add(a3))
		settledAt(t, s, 3)
		assert.NoError(t, add(other), "another address is not touched by the per-IP bound")
		assert.NotEqual(t, add(a1) == nil, add(a2) == nil, "exactly one of the address's two quiet connections made room")
	})

	t.Run("a call in progress is kept", func(t *testing.T) {
		s := newServer(t, server.WithConnLimits(2, 0))
		release, started := holdCalls(t, s)
		addr := listen(t, s)
		busy := dialFrom(t, addr, "127.0.0.2")
		held := busy.Go(t.Context(), "Hold.Hold", struct{}{}, new(bool))
		<-started
		quiet := dialFrom(t, addr, "127.0.0.3")
		require.NoError(t, add(quiet))
		// The busy connection has the older message and the larger share
		// of nothing: only its call in progress keeps it.
		require.Eventually(t, func() bool {
			n := 0
			for _, ci := range s.Conns() {
				if !ci.QuietSince.IsZero() {
					n++
				}
			}
			return n == 1
		}, 5*time.Second, 5*time.Millisecond)

		fresh := dialFrom(t, addr, "127.0.0.4")
		require.NoError(t, add(fresh))
		settledAt(t, s, 2)
		assert.Error(t, add(quiet), "the quiet connection made room")
		close(release)
		require.NoError(t, held.Wait(), "the call in progress was not cut")
		assert.NoError(t, add(busy))
	})

	t.Run("busy when looked at, closed once quiet", func(t *testing.T) {
		// A connection passed over while its call runs is not spared
		// for good: once quiet, it makes room again.
		s := newServer(t, server.WithConnLimits(1, 0))
		release, started := holdCalls(t, s)
		addr := listen(t, s)
		busy := dialFrom(t, addr, "127.0.0.2")
		held := busy.Go(t.Context(), "Hold.Hold", struct{}{}, new(bool))
		<-started
		// For a second (its reader parks within half of one), every
		// newcomer is refused: the only connection has a call running.
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for end := time.Now().Add(time.Second); time.Now().Before(end); <-tick.C {
			_, err := client.Dial(t.Context(), addr)
			require.Error(t, err)
			require.Contains(t, err.Error(), "connection limit")
		}
		close(release)
		require.NoError(t, held.Wait())
		var fresh *client.Client
		require.Eventually(t, func() bool {
			c, err := client.Dial(t.Context(), addr)
			if err == nil {
				fresh = c
			}
			return err == nil
		}, 10*time.Second, 20*time.Millisecond, "the connection, quiet now, makes room")
		t.Cleanup(func() { fresh.Close() })
		require.NoError(t, add(fresh))
		settledAt(t, s, 1)
		assert.Error(t, add(busy))
	})

	t.Run("a call sent as it is closed is refused, not executed", func(t *testing.T) {
		// The quiet session gets a go-away before it is closed: a call it
		// sends after that is answered as not executed, not lost.
		s := newServer(t, server.WithConnLimits(1, 0))
		addr := listen(t, s)
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = c.Write(helloSession())
		require.NoError(t, err)
		r := bufio.NewReaderSize(c, 4<<10)
		_, err = readSessionReply(r)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return allQuiet(s, 1) }, 5*time.Second, 5*time.Millisecond)

		fresh := dialFrom(t, addr, "127.0.0.2")
		goAway, err := readSessionReply(r)
		require.NoError(t, err)
		var note []any
		require.NoError(t, msgpack.Unmarshal(goAway, &note))
		require.Len(t, note, 3)
		assert.Equal(t, "$ferry.goaway", note[1])
		req := request(2, "Arith.Add", []any{map[string]any{"A": 1, "B": 2}}, map[string]any{})
		_, err = c.Write(append(yamuxFrame(0, 0, 1, uint32(len(req))), req...))
		require.NoError(t, err)
		reply, err := readSessionReply(r)
		require.NoError(t, err)
		var msg []any
		require.NoError(t, msgpack.Unmarshal(reply, &msg))
		require.Len(t, msg, 5, "a response with its ext: %v", msg)
		assert.NotNil(t, msg[2], "an error: %v", msg)
		ext, ok := msg[4].(map[string]any)
		require.True(t, ok, "%v", msg)
		assert.Equal(t, true, ext["n"], "not executed: %v", msg)
		assert.EqualValues(t, 14, ext["c"], "unavailable: %v", msg)
		require.NoError(t, add(fresh))
	})

	t.Run("raw sessions and bare connections", func(t *testing.T) {
		// An attacker's connections, each past its hello or with a call
		// answered, then silent, fill the bound: well-behaved newcomers
		// are served, each closing one of them.
		s := newServer(t, server.WithConnLimits(4, 0))
		addr := listen(t, s)
		var raws []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			t.Cleanup(func() { c.Close() })
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = c.Write(helloSession())
			require.NoError(t, err)
			_, err = readSessionReply(bufio.NewReaderSize(c, 512))
			require.NoError(t, err)
			raws = append(raws, c)
		}
		for range 2 {
			b := dialRaw(t, addr)
			require.EqualValues(t, 3, b.call(request(1, "Arith.Add", []any{1, 2})).result)
			raws = append(raws, b.conn)
		}
		require.Eventually(t, func() bool { return allQuiet(s, 4) }, 5*time.Second, 5*time.Millisecond)
		for i := range 4 {
			c := dialFrom(t, addr, fmt.Sprintf("127.0.0.%d", 2+i))
			require.NoError(t, add(c), "newcomer %d", i)
		}
		buf := make([]byte, 64<<10)
		for i, c := range raws {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			var err error
			for err == nil {
				_, err = c.Read(buf)
			}
			var ne net.Error
			assert.False(t, errors.As(err, &ne) && ne.Timeout(), "attacker connection %d was closed to make room: %v", i, err)
		}
	})
}

// TestConnInfoQuietSince checks server.ConnInfo.QuietSince: zero while a
// call runs, and once set no earlier than 250 ms after the last message
// arrived (which was after t0 below).
func TestConnInfoQuietSince(t *testing.T) {
	s := newServer(t)
	addr := listen(t, s)
	release, started := holdCalls(t, s)
	c := dialFrom(t, addr, "127.0.0.2")
	held := c.Go(t.Context(), "Hold.Hold", struct{}{}, new(bool))
	<-started
	conns := s.Conns()
	require.Len(t, conns, 1)
	assert.True(t, conns[0].QuietSince.IsZero(), "a call is running")
	close(release)
	require.NoError(t, held.Wait())

	t0 := time.Now()
	require.NoError(t, add(c))
	require.Eventually(t, func() bool { return allQuiet(s, 1) }, 5*time.Second, 5*time.Millisecond)
	since := s.Conns()[0].QuietSince
	assert.GreaterOrEqual(t, since.Sub(t0), 250*time.Millisecond, "quiet since %v after the last call began", since.Sub(t0))
}
