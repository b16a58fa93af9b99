package e2e_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// yamuxFrame builds a raw session frame header.
func yamuxFrame(typ byte, flags uint16, stream, length uint32) []byte {
	h := make([]byte, 12)
	h[1] = typ
	binary.BigEndian.PutUint16(h[2:], flags)
	binary.BigEndian.PutUint32(h[4:], stream)
	binary.BigEndian.PutUint32(h[8:], length)
	return h
}

func listen(t *testing.T, s *server.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	return l.Addr().String()
}

// waitClosed reads until the server closes conn, for at most d, and
// returns how long it took.
func waitClosed(t *testing.T, conn net.Conn, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, conn)
	var ne net.Error
	require.False(t, errorsAs(err, &ne) && ne.Timeout(), "the server did not close the connection within %v", d)
	return time.Since(start)
}

func errorsAs(err error, target *net.Error) bool {
	if err == nil {
		return false
	}
	return errors.As(err, target)
}

// settle collects garbage and returns the goroutine count and the live
// heap: the bytes of reachable objects (HeapAlloc right after a
// collection), not HeapInuse, whose spans also count the free slots
// between them that large buffers freed meanwhile leave (a CI run saw
// 8.6 MiB of those after an attack whose budget peak was 2.1 MiB).
func settle() (goroutines int, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

// TestPingFlood: a client that sends 1,000,000 pings and never reads.
func TestPingFlood(t *testing.T) {
	s := newServer(t)
	addr := listen(t, s)
	g0, h0 := settle()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	batch := make([]byte, 0, 12*10_000)
	for i := 0; i < 10_000; i++ {
		batch = append(batch, yamuxFrame(2, 1, 0, uint32(i))...)
	}
	start := time.Now()
	sent := 0
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sent < 1_000_000 {
			_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Write(batch); err != nil {
				return
			}
			sent += 10_000
		}
	}()
	closedAfter := waitClosed(t, conn, 5*time.Second)
	wg.Wait()
	g1, h1 := settle()
	t.Logf("ping flood: closed after %v (%d pings written before the close); goroutines %d → %d, heap %+.1f MiB",
		closedAfter, sent, g0, g1, float64(int64(h1)-int64(h0))/(1<<20))
	assert.Less(t, time.Since(start), time.Second, "closed within 1 s")
	assert.LessOrEqual(t, g1, g0+1000)
	assert.Less(t, int64(h1)-int64(h0), int64(64<<20))
}

func TestEvenStreamIDIsRefused(t *testing.T) {
	s := newServer(t)
	conn, err := net.Dial("tcp", listen(t, s))
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write(yamuxFrame(1, 1, 2, 0)) // SYN on stream 2: the server's id space
	require.NoError(t, err)
	waitClosed(t, conn, 5*time.Second)
}

// TestStreamFlood: 10,000 streams opened at once by one client, each
// starting a large request it never finishes. Streams past MaxStreams are
// refused at once, no handler runs for an unfinished request, memory stays
// bounded, and the server keeps serving others.
func TestStreamFlood(t *testing.T) {
	streams := 10_000
	if raceEnabled {
		streams = 2_000
	}
	s := newServer(t, server.WithMaxConcurrentCalls(64))
	addr := listen(t, s)
	_, h0 := settle()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	part := append([]byte{0x94, 0x00, 0x01, 0xa9}, "Arith.Add"...)
	part = append(part, 0x91, 0xc6, 0x00, 0x10, 0x00, 0x00) // a 1 MiB bin32 ...
	part = append(part, make([]byte, 1024)...)              // ... of which 1 KiB comes
	var buf []byte
	deadline := time.Now().Add(5 * time.Second)
	start := time.Now()
	written := 0
	for i := 0; i < streams && time.Now().Before(deadline); i++ {
		id := uint32(2*i + 1)
		buf = append(buf, yamuxFrame(1, 1, id, 0)...)
		buf = append(buf, yamuxFrame(0, 0, id, uint32(len(part)))...)
		buf = append(buf, part...)
		if len(buf) > 256<<10 || i == streams-1 {
			_ = conn.SetWriteDeadline(deadline)
			if _, err := conn.Write(buf); err != nil {
				break
			}
			buf = buf[:0]
			written = i + 1
		}
	}
	elapsed := time.Since(start)
	_, h1 := settle()
	running, outcome := 0, "the session was closed (stream-open rate limit)"
	if conns := s.Conns(); len(conns) > 0 {
		running, outcome = conns[0].Running, "the session lives; streams past MaxStreams were refused"
	}
	t.Logf("stream flood: %d streams written in %v; %s; server heap %+.1f MiB; running handlers %d",
		written, elapsed, outcome, float64(int64(h1)-int64(h0))/(1<<20), running)
	assert.Less(t, int64(h1)-int64(h0), int64(192<<20))
	assert.LessOrEqual(t, running, 64)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 1}, nil))
	conn.Close()
}

func TestMaxStreamsPerSession(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.MaxStreams = 3
	s := newServer(t, server.WithConfig(cfg))
	b := newBlocker()
	require.NoError(t, s.HandleStream("Block.Stream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		b.started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	c, err := client.Dial(t.Context(), listen(t, s)) // stream 1: calls
	require.NoError(t, err)
	defer c.Close()
	var open []*client.Stream
	for range 2 {
		st, err := c.NewStream(t.Context(), "Block.Stream")
		require.NoError(t, err)
		open = append(open, st)
		<-b.started
	}
	st, err := c.NewStream(t.Context(), "Block.Stream")
	require.NoError(t, err) // opening is local; the server closes it
	err = st.Recv(nil)
	require.Error(t, err)
	for _, o := range open {
		o.Close()
	}
	st.Close()
	require.NoError(t, c.Call(t.Context(), "Arith.Add", testsvc.Args{}, nil), "calls still work")
}

// TestConnectionLimits: when every connection at the bound is busy (a
// call in progress on each), a newcomer is refused, not executed; a slot
// frees when a client leaves.
func TestConnectionLimits(t *testing.T) {
	s := newServer(t, server.WithConnLimits(0, 2))
	release, started := holdCalls(t, s)
	addr := listen(t, s)
	a, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer a.Close()
	b, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer b.Close()
	held := []*ferry.Call{a.Go(t.Context(), "Hold.Hold", struct{}{}, nil), b.Go(t.Context(), "Hold.Hold", struct{}{}, nil)}
	<-started
	<-started
	_, err = client.Dial(t.Context(), addr)
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err))
	assert.Contains(t, err.Error(), "connection limit")
	close(release)
	for _, h := range held {
		require.NoError(t, h.Wait())
	}
	require.NoError(t, a.Close())
	require.Eventually(t, func() bool {
		c, err := client.Dial(t.Context(), addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 5*time.Millisecond, "a slot frees when a client leaves")
}

func TestSilentConnectionIsDropped(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.SniffTimeout = 200 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	conn, err := net.Dial("tcp", listen(t, s))
	require.NoError(t, err)
	defer conn.Close()
	took := waitClosed(t, conn, 5*time.Second)
	assert.GreaterOrEqual(t, took, 150*time.Millisecond)
}

// TestPanicsAndGarbageDoNotHurtGoodCalls interleaves 1,000 panicking
// handlers and 1,000 undecodable requests with 1,000 good calls on one
// connection.
func TestPanicsAndGarbageDoNotHurtGoodCalls(t *testing.T) {
	s := newServer(t)
	c := dialTCP(t, s)
	g0, _ := settle()
	var calls []*ferry.Call
	for i := 0; i < 1000; i++ {
		calls = append(calls,
			c.Go(t.Context(), "Echo.Panic", struct{}{}, nil),
			c.Go(t.Context(), "Arith.Add", "not the args", nil),
			c.Go(t.Context(), "Arith.Add", testsvc.Args{A: int64(i), B: 1}, new(int64)))
	}
	for i, call := range calls {
		err := call.Wait()
		switch i % 3 {
		case 0:
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err))
		case 1:
			assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
		case 2:
			require.NoError(t, err)
			assert.Equal(t, int64(i/3+1), *call.Reply.(*int64))
		}
	}
	require.Eventually(t, func() bool { g, _ := settle(); return g <= g0+4 }, 5*time.Second, 10*time.Millisecond,
		"goroutines return to baseline (idle workers expire)")
}
