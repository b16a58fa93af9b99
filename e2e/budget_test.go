package e2e_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
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

// The tests in this file attack the server's memory budget and its
// teardown from raw sockets, speaking the session framing and
// MessagePack-RPC by hand, with payloads of every size class. Each
// measures the server's heap (client and server share the process, so the
// figures are upper bounds) and checks that a well-behaved client is still
// served.

// sizeClasses are the payload sizes the attacks use: small, medium, just
// under the 256 KiB window every stream starts with (an opener may send
// that much before the server's accept raises it to StreamWindow).
var sizeClasses = []int{1 << 10, 64 << 10, 256<<10 - 1024}

// partialEcho is the start of an Echo.Echo request whose bin32 argument
// declares total bytes; n of them follow.
func partialEcho(total, n int) []byte {
	b := append([]byte{0x94, 0x00, 0x01, 0xa9}, "Echo.Echo"...)
	b = append(b, 0x91, 0xc6)
	b = binary.BigEndian.AppendUint32(b, uint32(total))
	return append(b, make([]byte, n)...)
}

// wholeEcho is a complete Echo.Echo request with an n-byte bin payload.
func wholeEcho(id uint32, n int) []byte {
	b := append([]byte{0x94, 0x00, 0xce}, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[3:], id)
	b = append(append(b, 0xa9), "Echo.Echo"...)
	b = append(b, 0x91, 0xc6)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	return append(b, make([]byte, n)...)
}

// rawSession dials addr and starts a session by hand.
func rawSession(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return conn
}

// openStreams opens n streams (ids first, first+2, ...) and sends data on
// each, in batches; it stops at the first write error (the server ended
// the session) and returns how many streams it wrote.
func openStreams(conn net.Conn, first uint32, n int, data []byte) int {
	var buf []byte
	written := 0
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < n; i++ {
		id := first + uint32(2*i)
		buf = append(buf, yamuxFrame(1, 1, id, 0)...)
		if len(data) > 0 {
			buf = append(buf, yamuxFrame(0, 0, id, uint32(len(data)))...)
			buf = append(buf, data...)
		}
		if len(buf) > 1<<20 || i == n-1 {
			_ = conn.SetWriteDeadline(deadline)
			if _, err := conn.Write(buf); err != nil {
				return written
			}
			buf = buf[:0]
			written = i + 1
		}
	}
	return written
}

// goodCall checks that a fresh client is answered within d.
func goodCall(t *testing.T, addr string, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	c, err := client.Dial(ctx, addr)
	require.NoError(t, err, "a well-behaved client must still be able to connect")
	defer c.Close()
	var sum int64
	require.NoError(t, c.Call(ctx, "Arith.Add", testsvc.Args{A: 3, B: 4}, &sum))
	require.Equal(t, int64(7), sum)
	return time.Since(start)
}

// released closes the attacking connection, waits until the server has
// let go of everything it charged for it, and checks that the heap is
// back near h0: memory the budget released must really be free.
func released(t *testing.T, s *server.Server, conn net.Conn, h0 uint64) {
	t.Helper()
	conn.Close()
	require.Eventually(t, func() bool { return memoryInUse(s) == 0 && len(s.Conns()) == 0 },
		10*time.Second, time.Millisecond)
	// Within 15 s: in whole-package runs under load the heap stayed 9.5
	// and 16.1 MiB up for the 5 s this waited before (1 run in 3 or 4 of
	// CI, never alone); what held it is not known yet, so a failure shows
	// the goroutines that were running.
	var grew atomic.Int64
	if !assert.Eventually(t, func() bool { grew.Store(heapGrowth(h0)); return grew.Load() < 8<<20 },
		15*time.Second, 50*time.Millisecond, "memory released by the budget must be free") {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		t.Logf("goroutines:\n%s", b.String())
	}
	t.Logf("after the attacker left: heap %+.1f MiB", float64(grew.Load())/(1<<20))
}

// raise sets m to v when v is larger. Conditions given to Eventually and
// Never run on goroutines of their own, which may still be running when
// those return, so what they record goes through atomics.
func raise(m *atomic.Int64, v int64) {
	for old := m.Load(); v > old && !m.CompareAndSwap(old, v); old = m.Load() {
	}
}

// heapGrowth is the heap in use now less h0, after two collections: pooled
// buffers survive the first.
func heapGrowth(h0 uint64) int64 {
	runtime.GC()
	_, h := settle()
	return int64(h) - int64(h0)
}

// TestRefusedStreamsAreBounded: streams opened past MaxStreams keep what
// they sent inside the session until the peer closes them or
// StreamCloseTimeout; all of it is charged to the connection's budget, so
// the session ends instead of holding gigabytes.
func TestRefusedStreamsAreBounded(t *testing.T) {
	for _, size := range sizeClasses {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cfg := transport.DefaultConfig()
			cfg.MaxStreams = 8
			cfg.MemoryBudget = 16 << 20
			s := newServer(t, server.WithConfig(cfg))
			addr := listen(t, s)
			_, h0 := settle()
			conn := rawSession(t, addr)
			streams := min(2000, (64<<20)/size)
			written := openStreams(conn, 1, streams, make([]byte, size))
			grew := heapGrowth(h0)
			t.Logf("%d-byte payloads: %d of %d streams written; heap %+.1f MiB; budget in use %v",
				size, written, streams, float64(grew)/(1<<20), memoryInUse(s))
			assert.Less(t, grew, 2*cfg.MemoryBudget+16<<20, "held more than the budget")
			goodCall(t, addr, 2*time.Second)
			released(t, s, conn, h0)
		})
	}
}

// TestPartialMessagesAreBounded: many streams, each holding part of a
// 4 MiB request, cannot make the server hold more than the budget.
func TestPartialMessagesAreBounded(t *testing.T) {
	for _, size := range sizeClasses {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cfg := transport.DefaultConfig()
			cfg.MemoryBudget = 16 << 20
			s := newServer(t, server.WithConfig(cfg))
			addr := listen(t, s)
			_, h0 := settle()
			conn := rawSession(t, addr)
			streams := min(1000, (96<<20)/size)
			written := openStreams(conn, 1, streams, partialEcho(4<<20-64, size-16))
			require.Eventually(t, func() bool { return memoryInUse(s) > 0 || len(s.Conns()) == 0 }, 5*time.Second, time.Millisecond)
			grew := heapGrowth(h0)
			t.Logf("%d-byte parts: %d of %d streams written; heap %+.1f MiB; budget in use %v",
				size, written, streams, float64(grew)/(1<<20), memoryInUse(s))
			assert.Less(t, grew, 2*cfg.MemoryBudget+16<<20)
			assert.LessOrEqual(t, memoryInUse(s), cfg.MemoryBudget+int64(cfg.MaxMessageSize))
			goodCall(t, addr, 2*time.Second)
			released(t, s, conn, h0)
		})
	}
}

// TestUnreadRepliesAreBounded: a peer that sends complete requests and
// never reads the replies can make the server hold at most its budget;
// calls past it are refused, and the write deadline cuts the peer off.
func TestUnreadRepliesAreBounded(t *testing.T) {
	for _, size := range sizeClasses {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			cfg := transport.DefaultConfig()
			cfg.MemoryBudget = 16 << 20
			cfg.WriteTimeout = 500 * time.Millisecond
			s := newServer(t, server.WithConfig(cfg))
			addr := listen(t, s)
			_, h0 := settle()
			conn := rawSession(t, addr)
			var buf []byte
			const streams = 64
			perStream := max(1, (200<<10)/(size+32))
			for i := range streams {
				id := uint32(2*i + 1)
				var msgs []byte
				for j := range perStream {
					msgs = append(msgs, wholeEcho(uint32(j), size)...)
				}
				buf = append(buf, yamuxFrame(1, 1, id, 0)...)
				buf = append(buf, yamuxFrame(0, 0, id, uint32(len(msgs)))...)
				buf = append(buf, msgs...)
			}
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if _, err := conn.Write(buf); err != nil {
				t.Logf("the server ended the session while it was sent: %v", err)
			}
			buf = nil //nolint:ineffassign // drops the last reference so the GC may free it before the peak is read
			var peakv atomic.Int64
			require.Eventually(t, func() bool {
				raise(&peakv, memoryInUse(s))
				return memoryInUse(s) == 0
			}, 10*time.Second, 5*time.Millisecond, "the write deadline must cut off a peer that does not read")
			peak := peakv.Load()
			grew := heapGrowth(h0)
			t.Logf("%d-byte echoes, %d per stream × %d streams: budget peak %.1f MiB; heap after %+.1f MiB",
				size, perStream, streams, float64(peak)/(1<<20), float64(grew)/(1<<20))
			// Bytes that already arrived are counted even past the
			// budget, by at most one message, before the session ends.
			assert.LessOrEqual(t, peak, cfg.MemoryBudget+int64(cfg.MaxMessageSize))
			goodCall(t, addr, 2*time.Second)
			released(t, s, conn, h0)
		})
	}
}

// TestPlainPartialMessages: bare MessagePack-RPC connections each holding
// part of a 1 MiB message are bounded by the server-wide budget and closed
// once they stall.
func TestPlainPartialMessages(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 300 * time.Millisecond
	const budget = 32 << 20
	s := newServer(t, server.WithConfig(cfg), server.WithMemoryBudget(budget))
	addr := listen(t, s)
	_, h0 := settle()
	part := partialEcho(1<<20, 1<<20-64)
	var conns []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(part)
		conns = append(conns, c)
	}
	grew := heapGrowth(h0)
	t.Logf("100 bare connections × 1 MiB partial: heap %+.1f MiB (budget %d MiB), in use %v", float64(grew)/(1<<20), budget>>20, memoryInUse(s))
	// Connections being shed still hold their buffers until their
	// goroutines notice: the heap may pass the budget by about as much
	// again (100 MiB were sent).
	assert.Less(t, grew, int64(2*budget+32<<20))
	goodCall(t, addr, 2*time.Second)
	for _, c := range conns {
		waitClosed(t, c, 5*time.Second)
	}
}

// TestStalledMessageIsClosed: a connection or stream that sends part of a
// message and then nothing is closed after PartialMessageTimeout.
func TestStalledMessageIsClosed(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.PartialMessageTimeout = 200 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	addr := listen(t, s)
	t.Run("plain", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, err = c.Write(partialEcho(1<<10, 100))
		require.NoError(t, err)
		took := waitClosed(t, c, 5*time.Second)
		assert.GreaterOrEqual(t, took, 150*time.Millisecond)
	})
	t.Run("session", func(t *testing.T) {
		c := rawSession(t, addr)
		start := time.Now()
		openStreams(c, 1, 1, partialEcho(1<<10, 100))
		// The server closes the stream: a frame with FIN for stream 1.
		hdr := make([]byte, 12)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, err := io.ReadFull(c, hdr)
			require.NoError(t, err, "the server did not close the stalled stream")
			id, n := binary.BigEndian.Uint32(hdr[4:]), binary.BigEndian.Uint32(hdr[8:])
			if hdr[1] == 0 {
				_, err = io.CopyN(io.Discard, c, int64(n))
				require.NoError(t, err)
			}
			if id == 1 && binary.BigEndian.Uint16(hdr[2:])&(4|8) != 0 {
				break
			}
		}
		assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	})
}

// TestIdleFloodDoesNotLockOutClients: connections that send one byte and
// stall fill the connection limit, yet a new client is still served: the
// oldest connection that never sent a complete message makes room.
func TestIdleFloodDoesNotLockOutClients(t *testing.T) {
	s := newServer(t, server.WithConnLimits(64, 0))
	addr := listen(t, s)
	for range 200 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		_, _ = c.Write([]byte{0x00})
	}
	for range 3 {
		took := goodCall(t, addr, 2*time.Second)
		t.Logf("a good call through a flood of 200 idle connections (limit 64): %v", took)
	}
	assert.LessOrEqual(t, len(s.Conns()), 64+1)
}

// TestServerBudgetShedsTheLargest: with a server-wide budget B, eight
// attacking connections cannot push the heap past B + 32 MiB, and a
// well-behaved client keeps being served throughout.
func TestServerBudgetShedsTheLargest(t *testing.T) {
	const budget = 32 << 20
	s := newServer(t, server.WithMemoryBudget(budget))
	addr := listen(t, s)
	good, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer good.Close()
	_, h0 := settle()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			defer conn.Close()
			openStreams(conn, 1, 200, partialEcho(4<<20-64, 200<<10))
		}()
	}
	fails := 0
	for i := 0; i < 200; i++ {
		var sum int64
		if err := good.Call(t.Context(), "Arith.Add", testsvc.Args{A: int64(i), B: 1}, &sum); err != nil {
			if fails == 0 {
				t.Logf("first failed call: %v", err)
			}
			fails++
		}
	}
	wg.Wait()
	// The attackers' connections are closing: what the server holds must
	// settle under the budget plus 32 MiB.
	var grew atomic.Int64
	assert.Eventually(t, func() bool { grew.Store(heapGrowth(h0)); return grew.Load() < int64(budget+32<<20) },
		5*time.Second, 50*time.Millisecond)
	t.Logf("8 attacking connections, server budget %d MiB: heap %+.1f MiB; in use %v; good calls failed: %d of 200",
		budget>>20, float64(grew.Load())/(1<<20), memoryInUse(s), fails)
	assert.Zero(t, fails)
	goodCall(t, addr, 2*time.Second)
}

// TestSessionDropDoesNotFreeze: dropping a session with 1,000 streams
// blocked in reads costs the rest of the server nothing measurable (yamux
// v0.1.2 spins those readers until its Close reaches each of them).
func TestSessionDropDoesNotFreeze(t *testing.T) {
	s := newServer(t)
	addr := listen(t, s)
	good, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	defer good.Close()
	for round := range 3 {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		// In steps, so that none waits past the session's accept backlog.
		for i := 0; i < 1000; i += 50 {
			require.Equal(t, 50, openStreams(conn, uint32(2*i+1), 50, []byte{0x94}))
			require.Eventually(t, func() bool { return streamsOpen(s) > i+50 }, 10*time.Second, time.Millisecond)
		}
		cpu0 := cpuTime()
		start := time.Now()
		conn.Close()
		var sum int64
		require.NoError(t, good.Call(t.Context(), "Arith.Add", testsvc.Args{A: 1, B: 2}, &sum))
		callTook := time.Since(start)
		require.Eventually(t, func() bool { return len(s.Conns()) == 1 }, 10*time.Second, time.Millisecond)
		torn := time.Since(start)
		cpu := cpuTime() - cpu0
		t.Logf("round %d: call answered %v after the drop; session gone after %v; CPU %v", round, callTook, torn, cpu)
		assert.Less(t, callTook, 300*time.Millisecond*raceFactor) // a freeze was 30 s; loose for loaded CI machines
		assert.Less(t, cpu, 500*time.Millisecond*raceFactor)
	}
}

// raceFactor loosens time bounds under the race detector, which slows
// everything about tenfold (without it a dropped session used to freeze
// the server for seconds: 15 s of CPU in one measured run).
var raceFactor = func() time.Duration {
	if raceEnabled {
		return 10
	}
	return 1
}()

func memoryInUse(s *server.Server) int64 {
	var n int64
	for _, c := range s.Conns() {
		n += c.Memory
	}
	return n
}

func streamsOpen(s *server.Server) int {
	n := 0
	for _, c := range s.Conns() {
		n += c.Streams
	}
	return n
}

// TestFreshClientsWhileShedding: while the server sheds attacking
// connections, what they still receive until they have ended (data in
// flight, up to their windows) is about to be released: it must not make
// the server shed, or refuse, new clients. Each fresh client dials and
// calls during the attack.
func TestFreshClientsWhileShedding(t *testing.T) {
	const budget = 8 << 20
	var sheds atomic.Int64
	logs := slog.New(countingHandler{msg: "holding the most", n: &sheds})
	s := newServer(t, server.WithMemoryBudget(budget), server.WithLogger(logs))
	addr := listen(t, s)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 4; round++ {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				// 60 streams (under the accept backlog), each a request
				// just under its window whose reply the attacker never
				// grants window for: 15 MiB per connection each way.
				openStreams(conn, 1, 60, wholeEcho(1, 250<<10))
				conn.Close()
			}
		}()
	}
	for range 10 {
		goodCall(t, addr, 5*time.Second)
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, sheds.Load(), "the attack must have made the server shed")
}

// countingHandler counts the log records whose message contains msg.
type countingHandler struct {
	msg string
	n   *atomic.Int64
}

func (h countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h countingHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h countingHandler) WithGroup(string) slog.Handler            { return h }
func (h countingHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		h.n.Add(1)
	}
	return nil
}

// TestYamuxLinesRateLimited: a raw peer that opens 500 streams in one burst
// (past the accept backlog of 64: yamux logs a line for each it refuses)
// cannot make the server write a log line per stream.
func TestYamuxLinesRateLimited(t *testing.T) {
	var lines atomic.Int64
	logs := slog.New(countingHandler{msg: "yamux", n: &lines})
	s := newServer(t, server.WithLogger(logs))
	addr := listen(t, s)
	conn := rawSession(t, addr)
	require.Equal(t, 500, openStreams(conn, 1, 500, nil))
	goodCall(t, addr, 2*time.Second)
	require.Eventually(t, func() bool { return lines.Load() >= 20 }, 5*time.Second, time.Millisecond,
		"the refusals are logged")
	t.Logf("500 streams in one burst: %d yamux lines logged", lines.Load())
	assert.Less(t, lines.Load(), int64(100))
}

// TestBudgetChargesMapsByElement: an argument type that holds a map is
// charged for its map's elements, not as if every byte were one: a 1 MiB
// and a 3 MiB []byte beside a small metadata map go through at the
// default 64 MiB budget (charged at the map's rate per byte, 128 bytes a
// byte would have been 128 and 384 MiB), while many small maps of the
// same total are refused as not executed.
func TestBudgetChargesMapsByElement(t *testing.T) {
	type blob struct {
		Key  string
		Meta map[string]string
		Data []byte
	}
	type many struct {
		Key   string
		Metas []map[string]string
	}
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Blob.Put", func(_ context.Context, b *blob) (*int, error) {
		n := len(b.Data) + len(b.Meta)
		return &n, nil
	}))
	require.NoError(t, server.Handle(s, "Blob.Many", func(_ context.Context, m *many) (*int, error) {
		n := len(m.Metas)
		return &n, nil
	}))
	c := dialTCP(t, s)
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 3 << 20} {
		var n int
		err := c.Call(t.Context(), "Blob.Put", blob{Key: "k", Meta: map[string]string{"a": "1", "b": "2"}, Data: make([]byte, size)}, &n)
		require.NoError(t, err, "%d bytes beside a map", size)
		assert.Equal(t, size+2, n)
	}
	// 1 MiB of one-entry maps (four bytes each: 0x81 0xa1 'a' 0xa0): 768 Ki
	// elements (each map in the array, its key and its value), charged at
	// least 192 bytes each, 144 MiB.
	metas := make([]map[string]string, 1<<18)
	for i := range metas {
		metas[i] = map[string]string{"a": ""}
	}
	var n int
	err := c.Call(t.Context(), "Blob.Many", many{Key: "k", Metas: metas}, &n)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	require.NoError(t, c.Call(t.Context(), "Blob.Many", many{Key: "k", Metas: metas[:1000]}, &n), "a thousand maps are cheap")
	assert.Equal(t, 1000, n)

	// A []byte beside a []any: its bytes are charged as bytes (they were
	// charged 16 times over, the size of an interface slot: a 4 MiB
	// []byte beside an empty []any was refused), the []any's elements
	// each as an element.
	type withAny struct {
		Data  []byte
		Extra []any
	}
	require.NoError(t, server.Handle(s, "Blob.Any", func(_ context.Context, w *withAny) (*int, error) {
		n := len(w.Data) + len(w.Extra)
		return &n, nil
	}))
	for _, size := range []int{1 << 10, 64 << 10, 1 << 20, 4<<20 - 256} {
		require.NoError(t, c.Call(t.Context(), "Blob.Any", withAny{Data: make([]byte, size), Extra: []any{}}, &n), "%d bytes beside an empty []any", size)
		assert.Equal(t, size, n)
		require.NoError(t, c.Call(t.Context(), "Blob.Any", withAny{Data: make([]byte, size), Extra: []any{1, "x", true}}, &n), "%d bytes beside a small []any", size)
		assert.Equal(t, size+3, n)
	}
	// 1 Mi one-byte numbers in the []any: 1 Mi elements, at least 192 MiB.
	nums := make([]any, 1<<20)
	for i := range nums {
		nums[i] = 1
	}
	err = c.Call(t.Context(), "Blob.Any", withAny{Extra: nums}, &n)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
}

// TestStreamMessagesChargedWhileDecoded: a streaming handler's message
// type that holds maps is charged for its elements while a message is
// decoded, as a call's arguments are: 1 MiB of one-entry maps (768 Ki
// elements, at least 144 MiB charged) is refused with resource_exhausted
// at the default 64 MiB budget, while a thousand of them and a large
// []byte beside a small map go through. Before, stream messages were
// decoded uncharged.
func TestStreamMessagesChargedWhileDecoded(t *testing.T) {
	type msg struct {
		Metas []map[string]string
		Data  []byte
	}
	s := newServer(t)
	require.NoError(t, server.HandleClientStream(s, "Blob.Upload", func(_ context.Context, recv func() (*msg, error)) (*int, error) {
		n := 0
		for {
			m, err := recv()
			if err == io.EOF {
				return &n, nil
			}
			if err != nil {
				return nil, err
			}
			n += len(m.Metas) + len(m.Data)
		}
	}))
	c := dialTCP(t, s)
	upload := func(msgs ...msg) (int, error) {
		st, err := c.NewStream(t.Context(), "Blob.Upload")
		require.NoError(t, err)
		defer st.Close()
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				break // the status says why
			}
		}
		_ = st.CloseSend()
		for {
			if err := st.Recv(nil); err != nil {
				if err != io.EOF {
					return 0, err
				}
				break
			}
		}
		var n int
		return n, st.Result(&n)
	}
	small := make([]map[string]string, 1000)
	for i := range small {
		small[i] = map[string]string{"a": ""}
	}
	n, err := upload(msg{Metas: small}, msg{Metas: small[:1], Data: make([]byte, 3<<20)})
	require.NoError(t, err)
	assert.Equal(t, 1000+1+3<<20, n)

	bomb := make([]map[string]string, 1<<18)
	for i := range bomb {
		bomb[i] = map[string]string{"a": ""}
	}
	_, err = upload(msg{Metas: bomb})
	require.Error(t, err)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
}

// TestBudgetNumbersBesideAMap: an argument type that holds a map is
// charged per map and map entry, not per array element: 500,000 small
// numbers beside a one-entry map (about 500 KB, about 1 MB decoded) are
// served at the default budget (charged 96 MB and refused when every
// element was charged as a map's), while 1 MiB of one-entry maps is
// still refused.
func TestBudgetNumbersBesideAMap(t *testing.T) {
	type samples struct {
		Labels map[string]string
		Values []int16
	}
	type labelled struct {
		Labels []map[string]string
		Values []int16
	}
	s := newServer(t)
	require.NoError(t, server.Handle(s, "Stats.Sum", func(_ context.Context, a *samples) (*int, error) {
		n := len(a.Values)
		return &n, nil
	}))
	require.NoError(t, server.Handle(s, "Stats.Labels", func(_ context.Context, a *labelled) (*int, error) {
		n := len(a.Labels)
		return &n, nil
	}))
	c := dialTCP(t, s)
	args := &samples{Labels: map[string]string{"host": "a"}, Values: make([]int16, 500_000)}
	for i := range args.Values {
		args.Values[i] = int16(i % 100) // one byte each on the wire
	}
	var n int
	require.NoError(t, c.Call(t.Context(), "Stats.Sum", args, &n))
	require.Equal(t, 500_000, n)

	// 256 Ki one-entry maps (about 1 MiB): 512 Ki maps and entries, at
	// least 96 MiB charged.
	bomb := &labelled{Labels: make([]map[string]string, 1<<18)}
	for i := range bomb.Labels {
		bomb.Labels[i] = map[string]string{"a": ""}
	}
	err := c.Call(t.Context(), "Stats.Labels", bomb, &n)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
}
