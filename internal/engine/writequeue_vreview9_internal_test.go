package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/async"
	mp "github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// These tests race a Go call whose request waits for room in a full write
// queue (flush.Writer.BeginContext) against its context's end, room
// appearing, the peer's $ferry.drained and Close, and check what the
// caller is told against what the peer read: a call flagged not executed
// was never read by the peer (a retry would otherwise run it twice), and
// every call ends exactly once (a second async.Finish panics).

// queuePeer is the scripted far end of a net.Pipe: it reads nothing until
// resume is closed, then records every request and $ferry.cancel it reads
// and answers each request it read before its drained point.
type queuePeer struct {
	conn    net.Conn
	resume  chan struct{}
	drainAt int // send $ferry.drained after reading this many requests; -1: never
	done    chan struct{}

	mu       sync.Mutex
	pos      map[string]int    // method -> its place among the requests read (1-based)
	ids      map[uint32]string // request id -> method
	cancels  []uint32
	drainedN int // the count sent in $ferry.drained; -1 before
	out      chan []byte
	marker   chan struct{}
}

func newQueuePeer(conn net.Conn, drainAt int) *queuePeer {
	return &queuePeer{
		conn: conn, resume: make(chan struct{}), drainAt: drainAt, done: make(chan struct{}),
		pos: map[string]int{}, ids: map[uint32]string{}, drainedN: -1, marker: make(chan struct{}),
	}
}

func (q *queuePeer) run() {
	defer close(q.done)
	// A writer of its own: the peer keeps reading while the channel does
	// not (a socket's buffers would take the replies).
	q.out = make(chan []byte, 1024)
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		for b := range q.out {
			_ = q.conn.SetWriteDeadline(time.Now().Add(ioTimeoutVR9))
			if _, err := q.conn.Write(b); err != nil {
				for range q.out { // drop the rest
				}
				return
			}
		}
	}()
	defer func() { close(q.out); <-wrote }()
	<-q.resume
	rd := wire.NewReader(q.conn, wire.DefaultLimits)
	n := 0
	for {
		_ = q.conn.SetReadDeadline(time.Now().Add(ioTimeoutVR9))
		b, err := rd.Next()
		if err != nil {
			return
		}
		m, err := wire.Parse(b)
		if err != nil {
			return
		}
		method := string(m.Method)
		switch {
		case m.Type == wire.TypeRequest:
			n++
			q.mu.Lock()
			q.pos[method] = n
			q.ids[m.ID] = method
			answer := q.drainedN < 0
			if q.drainAt >= 0 && n == q.drainAt {
				q.drainedN = n
			}
			drained := q.drainedN == n
			q.mu.Unlock()
			var out []byte
			if answer {
				out = mp.AppendNil(mp.AppendNil(mp.AppendUint(append(mp.AppendArrayHeader(nil, 4), wire.TypeResponse), uint64(m.ID))))
			}
			if drained {
				d := append(mp.AppendString(append(mp.AppendArrayHeader(nil, 3), wire.TypeNotification), wire.MethodDrained), mp.AppendUint(mp.AppendArrayHeader(nil, 1), uint64(n))...)
				out = append(out, d...)
			}
			if len(out) > 0 {
				q.out <- out
			}
		case method == wire.MethodCancel:
			var id []uint32
			if msgpack.Unmarshal(m.Params, &id) == nil && len(id) == 1 {
				q.mu.Lock()
				q.cancels = append(q.cancels, id[0])
				q.mu.Unlock()
			}
		case method == "Marker":
			close(q.marker)
		}
	}
}

const ioTimeoutVR9 = 10 * time.Second

// fillQueue queues 600 KiB notifications behind a write the peer does not
// take until the writer has no room: a BeginContext with an ended context
// fails only then (with room it does not look at the context).
func fillQueue(t *testing.T, c *Channel) {
	t.Helper()
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	fill := make([]byte, 600<<10)
	for range 10 {
		b, err := c.w.fw.BeginContext(ended)
		if err != nil {
			return
		}
		c.w.fw.End(b)
		require.NoError(t, c.Notify(context.Background(), "Fill", fill))
	}
	t.Fatal("the write queue never filled")
}

// jitter yields a random number of times, so that the actions of a round
// interleave differently each time.
func jitter(r *rand.Rand) {
	for range r.IntN(64) {
		runtime.Gosched()
	}
}

// vr9Stats counts the outcomes seen, to show that the rounds reach each.
type vr9Stats struct{ rounds, readOK, readCanceled, unreadFlagged, readFlagged, other int }

func (s *vr9Stats) count(read, flagged, ok bool) {
	switch {
	case read && ok:
		s.readOK++
	case read && flagged:
		s.readFlagged++
	case read:
		s.readCanceled++
	case flagged:
		s.unreadFlagged++
	default:
		s.other++
	}
}

type vr9Mode int

const (
	vr9Plain   vr9Mode = iota // contexts end while room appears
	vr9Drained                // ... and the peer sends $ferry.drained
	vr9Close                  // ... and the channel is closed
	vr9Broken                 // ... and the peer's end of the stream closes
)

// goRace runs one round: k calls (Go and Call) wait for room, then their contexts
// end, the peer starts reading, and (mode) the peer drains or the channel
// closes, in a random order. It checks every call's outcome against what
// the peer read.
func goRace(t *testing.T, r *rand.Rand, mode vr9Mode, k int, st *vr9Stats) {
	a, b := net.Pipe()
	drainAt := -1
	if mode == vr9Drained {
		drainAt = 1 + r.IntN(k)
	}
	q := newQueuePeer(b, drainAt)
	go q.run()
	c := New(a, Options{FerryPeer: true})
	c.Start()
	defer func() {
		select {
		case <-q.resume:
		default:
			close(q.resume)
		}
		_ = c.Close()
		b.Close()
		<-q.done
	}()
	fillQueue(t, c)

	// Even calls are Go, odd ones Call: calls[i] ends with each's error.
	calls := make([]*async.Call, k)
	cancels := make([]context.CancelFunc, k)
	var started sync.WaitGroup
	var returned sync.WaitGroup // the Go calls have returned
	begin := make(chan struct{})
	for i := range k {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		method := fmt.Sprintf("T.C%d", i)
		calls[i] = async.New(method, i, nil)
		started.Add(1)
		if i%2 == 1 {
			go func() {
				started.Done()
				async.Finish(calls[i], c.Call(ctx, method, i, nil))
			}()
			continue
		}
		returned.Add(1)
		go func() {
			started.Done()
			h := c.Go(ctx, method, i, nil)
			returned.Done()
			<-h.Done()
			async.Finish(calls[i], h.Err())
		}()
	}
	started.Wait()
	var actors sync.WaitGroup
	act := func(f func()) {
		seed := r.Uint64()
		actors.Add(1)
		go func() {
			defer actors.Done()
			<-begin
			jitter(rand.New(rand.NewPCG(seed, 1)))
			f()
		}()
	}
	for i := range k {
		if r.IntN(4) != 0 { // some calls keep their context: they must be sent
			act(cancels[i])
		}
	}
	act(func() { close(q.resume) })
	switch mode {
	case vr9Close:
		act(func() { _ = c.Close() })
	case vr9Broken:
		act(func() { b.Close() })
	}
	close(begin)
	actors.Wait()
	waitDone := make(chan struct{})
	go func() { returned.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(ioTimeoutVR9):
		t.Fatal("a Go still waits for room")
	}
	for i := range k {
		if mode != vr9Plain {
			cancels[i]() // calls the peer read after its drained point get no answer
		}
		select {
		case <-calls[i].Done():
		case <-time.After(ioTimeoutVR9):
			t.Fatalf("call %d never ended", i)
		}
	}
	for i := range k {
		cancels[i]()
	}
	// Everything queued so far reaches the peer before the marker (or the
	// end of the stream when the channel was closed).
	if mode == vr9Close || mode == vr9Broken {
		_ = c.Close()
		select {
		case <-q.done:
		case <-time.After(ioTimeoutVR9):
			t.Fatal("the peer never saw the end of the stream")
		}
	} else if err := c.Notify(context.Background(), "Marker", nil); err == nil {
		select {
		case <-q.marker:
		case <-time.After(ioTimeoutVR9):
			t.Fatal("the marker never arrived")
		}
	}

	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range k {
		err := calls[i].Err()
		method := fmt.Sprintf("T.C%d", i)
		pos, read := q.pos[method]
		flagged := ferry.NotExecuted(err)
		st.count(read, flagged, err == nil)
		if flagged {
			assert.False(t, read && (q.drainedN < 0 || pos <= q.drainedN),
				"call %d was flagged not executed (%v), but the peer read it (place %d, drained %d)", i, err, pos, q.drainedN)
		}
		if err == nil {
			assert.True(t, read, "call %d succeeded unread", i)
		}
		if mode == vr9Plain {
			assert.Equal(t, !read, flagged, "call %d: read %v, error %v", i, read, err)
		}
	}
	for _, id := range q.cancels {
		m, ok := q.ids[id]
		assert.True(t, ok && strings.HasPrefix(m, "T.C"), "a $ferry.cancel for id %d, a request the peer never read", id)
	}
}

func TestVReview9GoWaitingForRoomRaces(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode vr9Mode
	}{{"plain", vr9Plain}, {"drained", vr9Drained}, {"close", vr9Close}, {"broken", vr9Broken}} {
		t.Run(tc.name, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			r := rand.New(rand.NewPCG(seed, 9))
			deadline := time.Now().Add(time.Second)
			var st vr9Stats
			for ; st.rounds < 200 && time.Now().Before(deadline); st.rounds++ {
				goRace(t, r, tc.mode, 8, &st)
				if t.Failed() {
					t.Fatalf("round %d failed", st.rounds)
				}
			}
			t.Logf("%+v", st)
		})
	}
}

// brokenWriter is a net.Conn whose writes fail once fail is set, and
// whose read deadline does nothing: the reader never ends the channel, so
// the writer's latched error stays the only sign of the failure.
type brokenWriter struct {
	net.Conn
	fail chan struct{}
}

var errVR9Write = errors.New("test: write refused")

func (b *brokenWriter) Write(p []byte) (int, error) {
	select {
	case <-b.fail:
		return 0, errVR9Write
	default:
		return b.Conn.Write(p)
	}
}

func (*brokenWriter) SetReadDeadline(time.Time) error { return nil }

// TestVReview9NotifyAfterAWriteFailedIsNotExecuted: once the writer has
// latched a write error, and before the channel has failed, a Notify
// queues nothing, as a Call does not: it is flagged not executed like the
// Call, not reported as a lost connection whose outcome is unknown.
func TestVReview9NotifyAfterAWriteFailedIsNotExecuted(t *testing.T) {
	a, b := net.Pipe()
	bw := &brokenWriter{Conn: a, fail: make(chan struct{})}
	c := New(bw, Options{FerryPeer: true})
	c.Start()
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	close(bw.fail)
	require.NoError(t, c.Notify(t.Context(), "T.First", nil), "queued: its write fails later")
	require.Eventually(t, func() bool { return c.w.fw.Err() != nil }, 5*time.Second, time.Millisecond)
	require.NoError(t, c.Err(), "the channel has not failed yet")

	err := c.Call(t.Context(), "T.Call", nil, nil)
	assert.True(t, ferry.NotExecuted(err), "Call: %v", err)
	err = c.Notify(t.Context(), "T.Notify", nil)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "Notify: %v", err)
	assert.True(t, ferry.NotExecuted(err), "Notify: %v", err)
	assert.NotContains(t, err.Error(), "may or may not", "Notify: %v", err)
}
