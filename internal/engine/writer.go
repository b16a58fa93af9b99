package engine

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

const (
	highWater  = 1 << 20  // callers wait while this much is queued
	keepSpare  = 64 << 10 // flush buffers larger than this are not kept
	finalFlush = time.Second
)

// writer batches messages: callers encode under mu straight into out, and
// one goroutine swaps out for an empty buffer and writes it in one call.
// Yielding once before each flush lets concurrent callers join the batch.
// The goroutine starts with the first message and exits after writerIdle
// without one, so an idle connection keeps none.
type writer struct {
	c       *Conn
	mu      sync.Mutex
	cond    sync.Cond
	out     msgpack.Buffer
	spare   []byte
	enc     *vmsgpack.Encoder
	queued  bool
	err     error
	wake    chan struct{}
	stop    chan struct{}
	exited  chan struct{}
	once    sync.Once
	running bool // the goroutine exists; under mu
	stopped bool // shutdown began; under mu
	charged int  // bytes of out charged to the budget; under mu
	// sent counts the requests queued so far, in the order they go out;
	// the peer counts the requests it reads the same way. After
	// noRequests is set, no request is queued. Both under mu.
	sent       uint64
	noRequests bool
}

// errNoRequests is what a request queued after the peer stopped reading
// gets.
var errNoRequests = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the peer is shutting down"))

const writerIdle = time.Second

func (w *writer) init(c *Conn) {
	w.c = c
	w.cond.L = &w.mu
	w.enc = newEncoder(&w.out)
	w.wake = make(chan struct{}, 1)
	w.stop = make(chan struct{})
	w.exited = make(chan struct{})
}

// shutdown makes the writer flush what is queued (bounded by finalFlush),
// refuse more, and close the stream; exited is closed when that is done.
func (w *writer) shutdown() {
	w.once.Do(func() {
		w.mu.Lock()
		w.stopped = true
		running := w.running
		w.mu.Unlock()
		close(w.stop)
		if !running {
			w.finish()
			close(w.exited)
		}
	})
}

// finish is the writer's last act: a final flush, then the stream closes.
func (w *writer) finish() {
	_ = w.flush(finalFlush)
	w.mu.Lock()
	if w.err == nil {
		w.err = errClosedLocally
	}
	w.cond.Broadcast()
	w.mu.Unlock()
	w.c.rwc.Close()
}

// start runs the writer goroutine unless it runs or the writer stopped;
// mu is held.
func (w *writer) start() {
	if w.running || w.stopped {
		return
	}
	w.running = true
	w.c.loops.Add(1)
	go w.loop()
}

func (w *writer) loop() {
	defer w.c.loops.Done()
	idle := time.NewTimer(writerIdle)
	defer idle.Stop()
	for {
		select {
		case <-w.wake:
			runtime.Gosched()
			if err := w.flush(w.c.opts.WriteTimeout); err != nil {
				w.c.writeFailed(err)
			}
			idle.Reset(writerIdle)
		case <-idle.C:
			w.mu.Lock()
			if !w.queued && !w.stopped {
				w.running = false
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
			idle.Reset(writerIdle)
		case <-w.stop:
			w.finish()
			close(w.exited)
			return
		}
	}
}

type deadliner interface{ SetWriteDeadline(time.Time) error }

func (w *writer) flush(timeout time.Duration) error {
	w.mu.Lock()
	buf := w.out.B
	w.out.B, w.spare = w.spare[:0], nil
	charged := w.charged
	w.charged = 0
	w.queued = false
	err := w.err
	w.cond.Broadcast()
	w.mu.Unlock()
	if len(buf) > 0 && err == nil {
		if d, ok := w.c.rwc.(deadliner); ok && timeout > 0 {
			_ = d.SetWriteDeadline(time.Now().Add(timeout))
		}
		_, err = w.c.rwc.Write(buf)
	}
	w.c.opts.Budget.Release(charged)
	w.mu.Lock()
	if cap(buf) <= keepSpare {
		w.spare = buf[:0]
	} else {
		wire.PutBuffer(buf)
	}
	if err != nil && w.err == nil {
		w.err = err
		w.cond.Broadcast()
	}
	w.mu.Unlock()
	return err
}

// begin waits for room and returns the rollback mark, with mu held on
// success.
func (w *writer) begin() (int, error) {
	w.mu.Lock()
	for len(w.out.B) >= highWater && w.err == nil {
		w.cond.Wait()
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return 0, err
	}
	return len(w.out.B), nil
}

// commit charges what was queued since mark, schedules a flush and
// releases mu. A peer that does not read its replies cannot make them
// pile up past the budget: the conn fails instead.
func (w *writer) commit(mark int) {
	n := len(w.out.B) - mark
	w.charged += n
	if !w.queued {
		w.queued = true
		w.start()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
	w.mu.Unlock()
	// Outside the lock: the flush may release these bytes first, which
	// the counters tolerate.
	if !w.c.opts.Budget.Force(n) {
		w.c.fail(ferry.WrapError(ferry.CodeResourceExhausted, transport.ErrMemoryBudget, "replies the peer does not read"), false)
	}
}

// encode appends v with the shared encoder, turning a panic in a user's
// custom encoder into an error.
func (w *writer) encode(v any) (err error) {
	if n := sizeHint(v); n > keepSpare && cap(w.out.B)-len(w.out.B) < n+16 {
		nb := append(wire.GetBuffer(len(w.out.B)+n+16), w.out.B...)
		if cap(w.out.B) > keepSpare {
			wire.PutBuffer(w.out.B)
		}
		w.out.B = nb
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while encoding %T: %v", v, p)
		}
	}()
	if b, ok := msgpack.AppendFast(w.out.B, v); ok {
		w.out.B = b
		return nil
	}
	return w.enc.Encode(v)
}

// request queues [0, id, method, [args], ext?] and sets *seq to its place
// among the requests sent (1 for the first).
func (w *writer) request(id uint32, method string, args any, ext *wire.RequestExt, seq *uint64) error {
	mark, err := w.begin()
	if err != nil {
		return err
	}
	if w.noRequests {
		w.mu.Unlock()
		return errNoRequests
	}
	b := msgpack.AppendArrayHeader(w.out.B, 4+btoi(ext != nil))
	b = msgpack.AppendUint(append(b, wire.TypeRequest), uint64(id))
	w.out.B = msgpack.AppendString(b, method)
	if err := w.params(args); err != nil {
		w.out.B = w.out.B[:mark]
		w.mu.Unlock()
		return err
	}
	if ext != nil {
		w.out.B = wire.AppendRequestExt(w.out.B, *ext)
	}
	w.sent++
	*seq = w.sent
	w.commit(mark)
	return nil
}

// stopRequests makes every later request fail with errNoRequests. Once it
// returns, the sequence numbers of all requests queued are set.
func (w *writer) stopRequests() {
	w.mu.Lock()
	w.noRequests = true
	w.mu.Unlock()
}

// notify queues [2, method, [args], ext?].
func (w *writer) notify(method string, args any) error {
	mark, err := w.begin()
	if err != nil {
		return err
	}
	b := msgpack.AppendArrayHeader(w.out.B, 3)
	w.out.B = msgpack.AppendString(append(b, wire.TypeNotification), method)
	if err := w.params(args); err != nil {
		w.out.B = w.out.B[:mark]
		w.mu.Unlock()
		return err
	}
	w.commit(mark)
	return nil
}

// notifyExt queues a notification carrying request extensions.
func (w *writer) notifyExt(method string, args any, ext wire.RequestExt) error {
	mark, err := w.begin()
	if err != nil {
		return err
	}
	b := msgpack.AppendArrayHeader(w.out.B, 4)
	w.out.B = msgpack.AppendString(append(b, wire.TypeNotification), method)
	if err := w.params(args); err != nil {
		w.out.B = w.out.B[:mark]
		w.mu.Unlock()
		return err
	}
	w.out.B = wire.AppendRequestExt(w.out.B, ext)
	w.commit(mark)
	return nil
}

// params appends args as a one-element params array, or [] for nil.
func (w *writer) params(args any) error {
	if args == nil {
		w.out.B = msgpack.AppendArrayHeader(w.out.B, 0)
		return nil
	}
	w.out.B = msgpack.AppendArrayHeader(w.out.B, 1)
	if err := w.encode(args); err != nil {
		return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInternal, "cannot encode arguments: %v", err))
	}
	return nil
}

// response queues [1, id, error, result, ext?]. A reply that fails to
// encode becomes a CodeInternal error response.
func (w *writer) response(id uint32, reply any, herr error, ext bool) error {
	mark, err := w.begin()
	if err != nil {
		return err
	}
	if herr == nil {
		b := msgpack.AppendArrayHeader(w.out.B, 4)
		w.out.B = msgpack.AppendNil(msgpack.AppendUint(append(b, wire.TypeResponse), uint64(id)))
		if herr = w.encode(reply); herr == nil {
			w.commit(mark)
			return nil
		}
		w.out.B = w.out.B[:mark]
		herr = ferry.Errorf(ferry.CodeInternal, "cannot encode the reply: %v", herr)
	}
	w.out.B = status.AppendError(w.out.B, id, herr, ext)
	w.commit(mark)
	return nil
}

// sizeHint is the encoded size of a byte payload, so big ones go straight
// into a pooled buffer of the right size.
func sizeHint(v any) int {
	switch v := v.(type) {
	case []byte:
		return len(v)
	case *[]byte:
		if v != nil {
			return len(*v)
		}
	case string:
		return len(v)
	}
	return msgpack.BytesLen(v) // codec.Raw
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
