package flush

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink records what the writer writes; gate, if set, holds every write
// until a value arrives on it; fail, if set, decides each write's error.
type sink struct {
	mu      sync.Mutex
	data    []byte
	batches [][]byte // the slices written (not copies), for buffer identity
	writes  chan int // the size of each write, if set
	gate    chan struct{}
	fail    func(n int) error
	closed  atomic.Int32
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	i := len(s.batches)
	s.batches = append(s.batches, p)
	s.mu.Unlock()
	if s.gate != nil {
		<-s.gate
	}
	if s.fail != nil {
		if err := s.fail(i); err != nil {
			return 0, err
		}
	}
	s.mu.Lock()
	s.data = append(s.data, p...)
	s.mu.Unlock()
	if s.writes != nil {
		s.writes <- len(p)
	}
	return len(p), nil
}

func (s *sink) Close() error { s.closed.Add(1); return nil }

func (s *sink) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.data...)
}

// msg is writer g's i-th message: g, i and a tail of i%7 bytes.
func msg(g, i int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(g))
	b = binary.BigEndian.AppendUint32(b, uint32(i))
	return append(b, bytes.Repeat([]byte{byte(g)}, i%7)...)
}

// checkOrder parses the messages of n writers and requires each writer's
// messages whole and in order, count of them each.
func checkOrder(t *testing.T, b []byte, writers, count int) {
	t.Helper()
	next := make([]int, writers)
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 8)
		g, i := int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
		require.Less(t, g, writers)
		require.Equal(t, next[g], i, "writer %d's messages out of order", g)
		m := msg(g, i)
		require.Equal(t, m, b[:len(m)])
		b = b[len(m):]
		next[g]++
	}
	for g := range next {
		assert.Equal(t, count, next[g], "writer %d", g)
	}
}

// TestOrder: concurrent callers, through Write and through Begin/End,
// each see their messages written whole and in the order they queued
// them, with a small high-water mark so that they wait too.
func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"zero", Config{}},
		{"batching", Config{HighWater: 256, KeepSpare: 1 << 10, Idle: time.Millisecond, Yield: true}},
		{"direct", Config{HighWater: 256, Direct: 12, Idle: time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst := &sink{}
			w := New(dst, tc.cfg)
			const writers, count = 8, 300
			var wg sync.WaitGroup
			for g := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range count {
						if g%2 == 0 {
							_, err := w.Write(msg(g, i))
							require.NoError(t, err)
							continue
						}
						b, err := w.Begin()
						require.NoError(t, err)
						w.End(append(b, msg(g, i)...))
					}
				}()
			}
			wg.Wait()
			require.NoError(t, w.Close())
			checkOrder(t, dst.bytes(), writers, count)
			assert.Equal(t, int32(1), dst.closed.Load(), "Close closes the destination once")
		})
	}
}

// TestEndDrops: End with Begin's slice cut back queues nothing and
// starts no write.
func TestEndDrops(t *testing.T) {
	dst := &sink{}
	w := New(dst, Config{})
	b, err := w.Begin()
	require.NoError(t, err)
	w.End(append(b, "dropped"...)[:len(b)])
	_, err = w.Write([]byte("kept"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	assert.Equal(t, "kept", string(dst.bytes()))
}

// TestBatching: messages queued while a write is in flight go out
// together in the next write.
func TestBatching(t *testing.T) {
	dst := &sink{gate: make(chan struct{}), writes: make(chan int, 16)}
	w := New(dst, Config{})
	_, err := w.Write([]byte("a"))
	require.NoError(t, err)
	for range 5 { // queued while "a" is held at the gate
		_, err := w.Write([]byte("bc"))
		require.NoError(t, err)
	}
	// "a" may have been taken alone or with some of the rest; the rest
	// goes in one more write.
	writes, total := 0, 0
	for total < 11 && writes < 3 {
		dst.gate <- struct{}{}
		total += <-dst.writes
		writes++
	}
	assert.Equal(t, 11, total)
	assert.LessOrEqual(t, writes, 2)
	close(dst.gate)
	require.NoError(t, w.Close())
	assert.Equal(t, "a"+string(bytes.Repeat([]byte("bc"), 5)), string(dst.bytes()))
}

// TestBackPressure: at the high-water mark callers wait until the
// flusher takes the pending bytes; a message is always accepted into an
// empty buffer, however large.
func TestBackPressure(t *testing.T) {
	dst := &sink{gate: make(chan struct{})}
	w := New(dst, Config{HighWater: 100})
	_, err := w.Write(make([]byte, 10)) // the flusher takes it and blocks at the gate
	require.NoError(t, err)
	require.Eventually(t, func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return len(dst.batches) == 1 },
		5*time.Second, time.Millisecond)
	_, err = w.Write(make([]byte, 500)) // an empty buffer takes any size
	require.NoError(t, err)
	var done atomic.Bool
	go func() {
		b, err := w.Begin()
		if err == nil {
			w.End(append(b, 1))
		}
		done.Store(true)
	}()
	assert.Never(t, done.Load, 50*time.Millisecond, 5*time.Millisecond, "Begin waits while 500 bytes are pending")
	close(dst.gate)
	require.Eventually(t, done.Load, 5*time.Second, time.Millisecond)
	require.NoError(t, w.Close())
	assert.Len(t, dst.bytes(), 511)
}

// TestFirstErrorLatched: the first write error is reported to OnError
// once, before any caller sees it, and every later call returns it;
// queued bytes are dropped and counted as flushed.
func TestFirstErrorLatched(t *testing.T) {
	first, second := errors.New("first"), errors.New("second")
	dst := &sink{fail: func(i int) error {
		if i == 0 {
			return first
		}
		return second
	}}
	var w *Writer
	var onError []error
	var seenByCallers error
	var flushed atomic.Int64
	w = New(dst, Config{
		OnError: func(err error) {
			onError = append(onError, err)
			seenByCallers = w.Err() // not latched yet
			w.Shutdown()            // allowed from OnError
		},
		Flushed: func(n int) { flushed.Add(int64(n)) },
	})
	_, err := w.Write([]byte("abc"))
	require.NoError(t, err)
	<-w.Done()
	_, err = w.Write([]byte("d"))
	require.ErrorIs(t, err, first)
	_, err = w.Begin()
	require.ErrorIs(t, err, first)
	require.ErrorIs(t, w.Err(), first)
	require.NoError(t, w.Close())
	assert.Equal(t, []error{first}, onError)
	assert.NoError(t, seenByCallers)
	assert.Equal(t, int64(3), flushed.Load())
	assert.Empty(t, dst.bytes())
}

// TestFlushedCounts: Flushed sees every byte queued exactly once, written
// or dropped at close.
func TestFlushedCounts(t *testing.T) {
	var flushed atomic.Int64
	dst := &sink{}
	w := New(dst, Config{Flushed: func(n int) { flushed.Add(int64(n)) }, Yield: true})
	total := 0
	for i := range 100 {
		_, err := w.Write(msg(0, i))
		require.NoError(t, err)
		total += len(msg(0, i))
	}
	require.NoError(t, w.Close())
	assert.Equal(t, int64(total), flushed.Load())
	assert.Len(t, dst.bytes(), total)
}

// TestCloseDuringStalledWrite: a peer that never reads cannot hold Close
// past Final; later calls fail with the cut write's error, the first.
func TestCloseDuringStalledWrite(t *testing.T) {
	a, b := net.Pipe() // b is never read: every write to a blocks
	defer b.Close()
	closed := errors.New("closed here")
	var onError atomic.Int32
	w := New(a, Config{Final: 50 * time.Millisecond, Closed: closed, OnError: func(error) { onError.Add(1) }})
	_, err := w.Write([]byte("stuck"))
	require.NoError(t, err)
	_, err = w.Write([]byte("queued behind it"))
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, w.Close())
	assert.Less(t, time.Since(start), 5*time.Second)
	_, err = w.Write([]byte("late"))
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())
	assert.Equal(t, int32(1), onError.Load(), "the cut write is reported once")
}

// TestWriteTimeout: every write gets Timeout as its deadline, so a peer
// that stops reading fails the writer.
func TestWriteTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	errs := make(chan error, 1)
	w := New(a, Config{Timeout: 20 * time.Millisecond, OnError: func(err error) { errs <- err }})
	_, err := w.Write([]byte("never read"))
	require.NoError(t, err)
	select {
	case err := <-errs:
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	case <-time.After(5 * time.Second):
		t.Fatal("the write did not time out")
	}
	require.NoError(t, w.Close())
}

// TestAbort: Abort drops what is pending and cuts a write in flight
// short; Close then only closes the destination.
func TestAbort(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	var flushed atomic.Int64
	w := New(a, Config{Flushed: func(n int) { flushed.Add(int64(n)) }})
	_, err := w.Write([]byte("in flight"))
	require.NoError(t, err)
	_, err = w.Write([]byte("pending"))
	require.NoError(t, err)
	w.Abort()
	require.ErrorIs(t, w.Err(), net.ErrClosed)
	require.NoError(t, w.Close())
	assert.Equal(t, int64(len("in flight")+len("pending")), flushed.Load())
}

// TestShutdownFlushes: Shutdown writes what is pending before it closes
// the destination, and Done tells when.
func TestShutdownFlushes(t *testing.T) {
	dst := &sink{gate: make(chan struct{})}
	w := New(dst, Config{Idle: time.Hour})
	for i := range 10 {
		_, err := w.Write(msg(0, i))
		require.NoError(t, err)
	}
	w.Shutdown()
	w.Shutdown() // once
	select {
	case <-w.Done():
		t.Fatal("done before the pending bytes were written")
	default:
	}
	close(dst.gate)
	<-w.Done()
	checkOrder(t, dst.bytes(), 1, 10)
	assert.Equal(t, int32(1), dst.closed.Load())
	require.NoError(t, w.Close())
}

// TestIdleExit: the flusher exits after Idle without work, keeping no
// buffer, and starts again with the next message.
func TestIdleExit(t *testing.T) {
	dst := &sink{writes: make(chan int, 4)}
	w := New(dst, Config{Idle: 5 * time.Millisecond})
	running := func() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.running }
	for range 2 {
		_, err := w.Write([]byte("x"))
		require.NoError(t, err)
		<-dst.writes
		require.Eventually(t, func() bool { return !running() }, 5*time.Second, time.Millisecond)
	}
	w.mu.Lock()
	assert.Nil(t, w.buf, "an idle writer keeps no buffer")
	assert.Nil(t, w.spare, "an idle writer keeps no buffer")
	w.mu.Unlock()
	require.NoError(t, w.Close())
	assert.Equal(t, "xx", string(dst.bytes()))
}

// TestSpareReused: a flushed buffer is kept as the spare and the next
// message goes into it; a buffer larger than KeepSpare goes to Discard
// instead.
func TestSpareReused(t *testing.T) {
	dst := &sink{}
	var discarded atomic.Int32
	flushed := make(chan int, 1)
	w := New(dst, Config{KeepSpare: 1 << 10, Discard: func([]byte) { discarded.Add(1) }, Flushed: func(n int) { flushed <- n }})
	for i := range 50 {
		b, err := w.Begin()
		require.NoError(t, err)
		w.End(append(b, msg(0, i*7)...)) // all of one size
		<-flushed                        // the buffer is back as the spare
	}
	_, err := w.Write(make([]byte, 4<<10)) // past KeepSpare
	require.NoError(t, err)
	<-flushed
	require.NoError(t, w.Close())
	arrays := map[*byte]bool{}
	for _, b := range dst.batches[:50] {
		arrays[unsafe.SliceData(b)] = true
	}
	assert.Equal(t, 1, len(arrays), "buffers used for 50 batches, one at a time")
	assert.Equal(t, int32(1), discarded.Load())
}

// TestDirect: a large Write goes out as the caller's own slice, after
// what was queued before it.
func TestDirect(t *testing.T) {
	dst := &sink{}
	w := New(dst, Config{Direct: 100})
	_, err := w.Write([]byte("small"))
	require.NoError(t, err)
	big := bytes.Repeat([]byte{7}, 100)
	n, err := w.Write(big)
	require.NoError(t, err)
	assert.Equal(t, 100, n)
	require.NoError(t, w.Close())
	assert.Equal(t, append([]byte("small"), big...), dst.bytes())
	direct := false
	for _, b := range dst.batches {
		direct = direct || unsafe.SliceData(b) == unsafe.SliceData(big)
	}
	assert.True(t, direct, "the large message was not copied")
}

// TestCloseIdle: closing a writer that never wrote closes the
// destination at once and starts no goroutine.
func TestCloseIdle(t *testing.T) {
	dst := &sink{}
	w := New(dst, Config{Idle: time.Hour})
	require.NoError(t, w.Close())
	require.NoError(t, w.Close())
	assert.Equal(t, int32(1), dst.closed.Load())
	_, err := w.Write([]byte("x"))
	require.ErrorIs(t, err, net.ErrClosed)
}

// BenchmarkWrite measures queuing one small message from many goroutines.
func BenchmarkWrite(b *testing.B) {
	w := New(discard{}, Config{HighWater: 1 << 20, KeepSpare: 64 << 10, Idle: time.Second, Yield: true})
	m := make([]byte, 64)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			buf, err := w.Begin()
			if err != nil {
				b.Error(err)
				return
			}
			w.End(append(buf, m...))
		}
	})
	require.NoError(b, w.Close())
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// linkMsg queues writer g's i-th message with its tail linked by
// reference, waits until it has left the writer, then clears the tail (a
// write still reading it would race).
func linkMsg(t *testing.T, w *Writer, g, i int) {
	m := msg(g, i)
	b, err := w.Begin()
	require.NoError(t, err)
	b, ticket := w.Link(append(b, m[:4]...), m[4:])
	w.End(b)
	w.Wait(context.Background(), ticket)
	clear(m) // the writer is done with it
}

// TestLinkOrder: bodies queued by reference go out in their places among
// appended messages, whole and in order, with concurrent callers and
// back-pressure; Flushed counts them.
func TestLinkOrder(t *testing.T) {
	var flushed atomic.Int64
	dst := &sink{}
	w := New(dst, Config{HighWater: 256, KeepSpare: 1 << 10, Idle: time.Millisecond, Yield: true,
		Flushed: func(n int) { flushed.Add(int64(n)) }})
	const writers, count = 6, 200
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range count {
				if g%2 == 0 {
					linkMsg(t, w, g, i)
					continue
				}
				_, err := w.Write(msg(g, i))
				require.NoError(t, err)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, w.Close())
	got := dst.bytes()
	checkOrder(t, got, writers, count)
	assert.Equal(t, int64(len(got)), flushed.Load())
}

// TestLinkByReference: a linked body is written from the caller's own
// array, not copied; Wait returns only once that write is over, and the
// writer keeps no reference to the body afterwards.
func TestLinkByReference(t *testing.T) {
	dst := &sink{gate: make(chan struct{}, 10)}
	w := New(dst, Config{})
	body := bytes.Repeat([]byte{7}, 1000)
	b, err := w.Begin()
	require.NoError(t, err)
	b, ticket := w.Link(append(b, "head"...), body)
	w.End(append(b, "tail"...))
	var waited atomic.Bool
	go func() { w.Wait(context.Background(), ticket); waited.Store(true) }()
	assert.Never(t, waited.Load, 50*time.Millisecond, 5*time.Millisecond, "Wait returns before the write")
	for range 3 {
		dst.gate <- struct{}{}
	}
	require.Eventually(t, waited.Load, 5*time.Second, time.Millisecond)
	dst.mu.Lock()
	require.Len(t, dst.batches, 3, "head, body, tail")
	assert.Equal(t, unsafe.SliceData(body), unsafe.SliceData(dst.batches[1]), "the body is written in place")
	dst.mu.Unlock()
	w.mu.Lock()
	for _, l := range w.spareLnk[:cap(w.spareLnk)] {
		assert.Nil(t, l.body, "a written body is forgotten")
	}
	for _, p := range w.vec[:cap(w.vec)] {
		assert.Nil(t, p)
	}
	w.mu.Unlock()
	require.NoError(t, w.Close())
	assert.Equal(t, append(append([]byte("head"), body...), "tail"...), dst.bytes())
}

// TestLinkBackPressure: linked bytes count as pending for HighWater.
func TestLinkBackPressure(t *testing.T) {
	dst := &sink{gate: make(chan struct{})}
	w := New(dst, Config{HighWater: 100})
	_, err := w.Write(make([]byte, 10)) // the flusher takes it and blocks at the gate
	require.NoError(t, err)
	require.Eventually(t, func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return len(dst.batches) == 1 },
		5*time.Second, time.Millisecond)
	b, err := w.Begin()
	require.NoError(t, err)
	b, ticket := w.Link(b, make([]byte, 500))
	w.End(b)
	var done atomic.Bool
	go func() {
		b, err := w.Begin()
		if err == nil {
			w.End(append(b, 1))
		}
		done.Store(true)
	}()
	assert.Never(t, done.Load, 50*time.Millisecond, 5*time.Millisecond, "Begin waits while 500 linked bytes are pending")
	close(dst.gate)
	require.Eventually(t, done.Load, 5*time.Second, time.Millisecond)
	w.Wait(context.Background(), ticket)
	require.NoError(t, w.Close())
	assert.Len(t, dst.bytes(), 511)
}

// TestLinkDropped: a linked body behind a stuck write is dropped by Abort
// (Wait returns, Flushed counts it) and one queued after a failure is
// dropped by the flusher.
func TestLinkDropped(t *testing.T) {
	t.Run("abort", func(t *testing.T) {
		a, b := net.Pipe() // never read
		defer b.Close()
		var flushed atomic.Int64
		w := New(a, Config{Flushed: func(n int) { flushed.Add(int64(n)) }})
		_, err := w.Write([]byte("in flight"))
		require.NoError(t, err)
		buf, err := w.Begin()
		require.NoError(t, err)
		buf, ticket := w.Link(append(buf, 'h'), make([]byte, 300))
		w.End(buf)
		w.Abort()
		w.Wait(context.Background(), ticket)
		require.NoError(t, w.Close())
		assert.Equal(t, int64(len("in flight")+1+300), flushed.Load())
	})
	t.Run("failed", func(t *testing.T) {
		boom := errors.New("boom")
		dst := &sink{gate: make(chan struct{}), fail: func(int) error { return boom }}
		var flushed atomic.Int64
		w := New(dst, Config{Flushed: func(n int) { flushed.Add(int64(n)) }})
		_, err := w.Write([]byte("fails"))
		require.NoError(t, err)
		require.Eventually(t, func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return len(dst.batches) == 1 },
			5*time.Second, time.Millisecond)
		buf, err := w.Begin()
		require.NoError(t, err)
		buf, ticket := w.Link(buf, make([]byte, 300))
		w.End(buf)
		close(dst.gate)
		w.Wait(context.Background(), ticket)
		require.ErrorIs(t, w.Err(), boom)
		require.NoError(t, w.Close())
		assert.Equal(t, int64(5+300), flushed.Load())
		dst.mu.Lock()
		assert.Len(t, dst.batches, 1, "the linked body is never written")
		dst.mu.Unlock()
	})
}

// TestLinkTCP: on a net.Conn, a batch with links goes out whole (as one
// writev) and arrives intact.
func TestLinkTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		var all bytes.Buffer
		_, _ = all.ReadFrom(c)
		got <- all.Bytes()
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	w := New(c, Config{Timeout: 5 * time.Second})
	var want []byte
	for i := range 20 {
		body := bytes.Repeat([]byte{byte(i)}, 70_000+i)
		b, err := w.Begin()
		require.NoError(t, err)
		b, ticket := w.Link(append(b, byte(i)), body)
		w.End(append(b, 0xff))
		w.Wait(context.Background(), ticket)
		want = append(append(append(want, byte(i)), body...), 0xff)
	}
	require.NoError(t, w.Close()) // closes c
	select {
	case b := <-got:
		assert.Equal(t, want, b)
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived")
	}
}

// TestLinkWaitContext: a caller whose context ends while its linked body
// is still pending gets back at once, and the writer sends a copy taken
// then; once the body's batch is being written, Wait waits for the write.
func TestLinkWaitContext(t *testing.T) {
	dst := &sink{gate: make(chan struct{}, 10)}
	w := New(dst, Config{})
	_, err := w.Write([]byte("first")) // the flusher takes it and blocks at the gate
	require.NoError(t, err)
	require.Eventually(t, func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return len(dst.batches) == 1 },
		5*time.Second, time.Millisecond)
	body := []byte("pending body")
	b, err := w.Begin()
	require.NoError(t, err)
	b, ticket := w.Link(b, body)
	w.End(b)
	ctx, cancel := context.WithCancel(context.Background())
	returned := make(chan struct{})
	go func() { w.Wait(ctx, ticket); close(returned) }()
	cancel()
	select {
	case <-returned:
	case <-time.After(5 * time.Second):
		t.Fatal("Wait did not return when its context ended")
	}
	copy(body, "CHANGED BODY") // the caller owns it again
	for range 2 {
		dst.gate <- struct{}{}
	}
	require.NoError(t, w.Close())
	assert.Equal(t, "firstpending body", string(dst.bytes()))

	// In flight: Wait outlasts its context until the write ends.
	dst = &sink{gate: make(chan struct{}, 10)}
	w = New(dst, Config{})
	b, err = w.Begin()
	require.NoError(t, err)
	b, ticket = w.Link(b, body)
	w.End(b)
	require.Eventually(t, func() bool { dst.mu.Lock(); defer dst.mu.Unlock(); return len(dst.batches) == 1 },
		5*time.Second, time.Millisecond)
	var waited atomic.Bool
	go func() { w.Wait(ctx, ticket); waited.Store(true) }() // ctx has ended
	assert.Never(t, waited.Load, 50*time.Millisecond, 5*time.Millisecond, "Wait returns while the body is being written")
	dst.gate <- struct{}{}
	require.Eventually(t, waited.Load, 5*time.Second, time.Millisecond)
	require.NoError(t, w.Close())
}

// TestLinkOwned: an owned body goes out in place and then to Discard,
// without anyone waiting; one dropped at Abort goes to Discard too.
func TestLinkOwned(t *testing.T) {
	var mu sync.Mutex
	var discarded [][]byte
	discard := func(b []byte) { mu.Lock(); discarded = append(discarded, b); mu.Unlock() }
	dst := &sink{}
	w := New(dst, Config{KeepSpare: 1 << 10, Discard: discard})
	body := []byte("owned")
	b, err := w.Begin()
	require.NoError(t, err)
	w.End(append(w.LinkOwned(append(b, '<'), body), '>'))
	require.NoError(t, w.Close())
	assert.Equal(t, "<owned>", string(dst.bytes()))
	mu.Lock()
	require.Len(t, discarded, 1)
	assert.Equal(t, unsafe.SliceData(body), unsafe.SliceData(discarded[0]))
	discarded = nil
	mu.Unlock()

	a, peer := net.Pipe() // never read
	defer peer.Close()
	w = New(a, Config{KeepSpare: 1 << 10, Discard: discard})
	_, err = w.Write([]byte("stuck"))
	require.NoError(t, err)
	b, err = w.Begin()
	require.NoError(t, err)
	w.End(w.LinkOwned(b, body))
	w.Abort()
	require.NoError(t, w.Close())
	mu.Lock()
	assert.Len(t, discarded, 1, "the dropped owned body")
	mu.Unlock()
}

// deadlineSink is a sink that records the write deadlines it is given.
type deadlineSink struct {
	sink
	dmu       sync.Mutex
	deadlines []time.Time
}

func (s *deadlineSink) SetWriteDeadline(t time.Time) error {
	s.dmu.Lock()
	s.deadlines = append(s.deadlines, t)
	s.dmu.Unlock()
	return nil
}

// TestDeadlineKept: writes in quick succession keep the deadline set for
// the first (still at least 7/8 of Timeout ahead) instead of setting one
// each; a shutdown still sets the final bound.
func TestDeadlineKept(t *testing.T) {
	d := &deadlineSink{}
	d.writes = make(chan int, 1)
	w := New(d, Config{Timeout: time.Hour, Final: time.Second})
	start := time.Now()
	for i := range 50 {
		_, err := w.Write(msg(0, i))
		require.NoError(t, err)
		<-d.writes // one write at a time: each is its own batch
	}
	d.dmu.Lock()
	require.Len(t, d.deadlines, 1, "50 writes within a few ms of each other")
	assert.WithinDuration(t, start.Add(time.Hour), d.deadlines[0], time.Minute)
	d.dmu.Unlock()
	w.Shutdown()
	<-w.Done()
	checkOrder(t, d.bytes(), 1, 50)
}

// TestExpireKeepsTheCut: after Expire, writes fail at once although the
// writer has a Timeout of its own, which it would otherwise set before
// its first write (over a past deadline set on the destination directly);
// Shutdown's final bound does not lift the cut either. Renew lifts it.
func TestExpireKeepsTheCut(t *testing.T) {
	a, b := net.Pipe() // b reads only where the test says
	defer b.Close()
	errs := make(chan error, 1)
	w := New(a, Config{Timeout: time.Hour, Final: time.Hour, OnError: func(err error) { errs <- err }})
	w.Expire()
	_, err := w.Write([]byte("never read"))
	require.NoError(t, err, "queued")
	select {
	case err := <-errs:
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout())
	case <-time.After(5 * time.Second):
		t.Fatal("a write after Expire waited for the writer's own deadline")
	}
	require.NoError(t, w.Close())

	// Renew: a writer cut and renewed before it wrote writes normally.
	c, d := net.Pipe()
	defer d.Close()
	w = New(c, Config{Timeout: time.Hour})
	w.Expire()
	w.Renew()
	_, err = w.Write([]byte("read"))
	require.NoError(t, err)
	got := make([]byte, len("read"))
	_, err = io.ReadFull(d, got)
	require.NoError(t, err)
	assert.Equal(t, "read", string(got))
	require.NoError(t, w.Err())
	w.Shutdown()
	<-w.Done()
}
