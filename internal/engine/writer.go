package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/encode"
	"github.com/ferryrpc/ferry/internal/flush"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

const (
	highWater  = 1 << 20  // callers wait while this much is queued
	keepSpare  = 64 << 10 // flush buffers larger than this are not kept
	finalFlush = time.Second
	// writerIdle is short: the flusher's stack and buffers, released soon
	// after a burst, serve the connections still busy (started again at
	// most four times a second, a flusher costs little).
	writerIdle = 250 * time.Millisecond
	// linkMin is the size from which a []byte or codec.Raw argument or
	// reply is queued by reference instead of copied into the batch.
	linkMin = 64 << 10
)

// writer frames messages straight into the pending bytes of a
// flush.Writer, which batches them: one goroutine writes everything queued
// since its last write in one call, yielding once before each write so
// that concurrent callers join the batch. It starts with the first message
// and exits after writerIdle without one, so an idle connection keeps
// none.
type writer struct {
	c  *Channel
	fw flush.Writer
	// sent counts the requests queued so far, in the order they go out;
	// the peer counts the requests it reads the same way. After
	// noRequests is set, no request is queued. Both under fw's lock.
	sent       uint64
	noRequests bool
}

// errNoRequests is what a request queued after the peer stopped reading
// gets.
var errNoRequests = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the peer is shutting down"))

func (w *writer) init(c *Channel) {
	w.c = c
	w.fw.Init(c.rwc, flush.Config{
		HighWater: highWater,
		KeepSpare: keepSpare,
		Idle:      writerIdle,
		Yield:     true,
		Timeout:   c.opts.WriteTimeout,
		Final:     finalFlush,
		Closed:    errClosedLocally,
		OnError:   c.writeFailed,
		Flushed:   c.opts.Budget.Release,
		Discard:   wire.PutBuffer,
	})
}

// shutdown makes the writer flush what is queued (bounded by finalFlush),
// refuse more, and close the stream; w.fw.Done() is closed when that is
// done.
func (w *writer) shutdown() { w.fw.Shutdown() }

// commit stores b, which holds what was queued since mark (and linked
// bytes linked by reference), and charges it. A peer that does not read
// its replies cannot make them pile up past the budget: the conn fails
// instead.
func (w *writer) commit(b []byte, mark, linked int) {
	n := len(b) - mark + linked
	w.fw.End(b)
	// Outside the lock: the flush may release these bytes first, which
	// the counters tolerate.
	if !w.c.opts.Budget.Force(n) {
		w.c.fail(ferry.WrapError(ferry.CodeResourceExhausted, transport.ErrMemoryBudget, "replies the peer does not read"), false)
	}
}

// request queues [0, id, method, [args], ext?], or [2, method, [args],
// ext?] when seq is nil (a notification), and sets *seq to the request's
// place among the requests sent (1 for the first) and *batch to the
// write queue's batch it joined (flush.Writer.Batch). The arguments are
// encoded before the writer's lock is taken, so that callers encode at the
// same time. For a synchronous call (sync set: its caller waits anyway),
// a large []byte or codec.Raw argument goes out by reference and request
// returns once it is written, or once ctx ends while it is still queued
// (the writer then sends a copy); otherwise it is copied.
func (w *writer) request(ctx context.Context, sync bool, id uint32, method string, args any, ext *wire.RequestExt, seq, batch *uint64) error {
	var body []byte
	var bin bool
	if sync {
		body, bin = linkable(args)
	}
	var eb *encBuf
	if body == nil {
		eb = getEncBuf()
		defer eb.put()
		var err error
		if eb.b, err = eb.params(eb.b[:0], args); err != nil {
			return err
		}
	}
	// The extensions too are encoded before the lock (iterating the
	// metadata map is most of their cost), into a buffer on the stack
	// when they are small.
	var extArr [256]byte
	var extB []byte
	if ext != nil {
		extB = wire.AppendRequestExt(extArr[:0], *ext)
	}
	// A request past the message limit is refused here, not sent: the
	// peer would close the stream every call shares.
	size := 2 + strHeaderSize(len(method)) + len(method) + len(extB) // array header, type
	if seq != nil {
		size += uintSize(id)
	}
	if body != nil {
		size += 1 + len(body) // the params array's header
		if bin {
			size += binHeaderSize(len(body))
		}
	} else {
		size += len(eb.b)
	}
	if max, peers := w.c.opts.Limits.SendMax(); size > max {
		return ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeResourceExhausted, wire.ErrTooLarge,
			fmt.Sprintf("%s: the request (%d bytes) is larger than %s", method, size, limitName(max, peers))))
	}
	if err := w.checkDepth(method, args, body, bin, eb); err != nil {
		return err
	}
	b, err := w.fw.BeginContext(ctx)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && err == cerr { //nolint:errorlint // BeginContext returns ctx.Err() itself
			// ctx ended while the write queue was full: nothing was queued.
			return ferry.MarkNotExecuted(status.Context(err))
		}
		return err
	}
	mark := len(b)
	if seq != nil {
		if *seq == unqueued {
			// The call was abandoned (claimUnqueued) while this waited
			// for room: it is over, and its request is not sent.
			w.fw.End(b)
			err := ctx.Err()
			if err == nil {
				err = context.Canceled
			}
			return ferry.MarkNotExecuted(status.Context(err))
		}
		if w.noRequests {
			w.fw.End(b)
			return errNoRequests
		}
		b = msgpack.AppendArrayHeader(b, 4+btoi(ext != nil))
		b = msgpack.AppendUint(append(b, wire.TypeRequest), uint64(id))
	} else {
		b = append(msgpack.AppendArrayHeader(b, 3+btoi(ext != nil)), wire.TypeNotification)
	}
	b = msgpack.AppendString(b, method)
	var ticket flush.Ticket
	linked := len(body)
	if body != nil {
		b, ticket = w.link(msgpack.AppendArrayHeader(b, 1), body, bin)
	} else {
		b, linked = w.appendEncoded(b, eb)
	}
	b = append(b, extB...)
	if seq != nil {
		w.sent++
		*seq, *batch = w.sent, w.fw.Batch()
	}
	// This side's own requests are not charged: the budget bounds what
	// the peer makes this side hold, and the write queue's high water
	// bounds them. Charged, a few callers' large requests left the reader
	// no room for a reply of the largest size, which ended the conn.
	w.fw.Exempt(len(b) - mark + linked)
	w.fw.End(b)
	if body != nil {
		w.fw.Wait(ctx, ticket)
	}
	return nil
}

// notify queues [2, method, [args], ext?], waiting for room in the write
// queue until ctx ends.
func (w *writer) notify(ctx context.Context, method string, args any, ext *wire.RequestExt) error {
	return w.request(ctx, false, 0, method, args, ext, nil, nil)
}

// notifyTicket queues [2, method, []] and returns the ticket to wait
// for it to leave the writer (flush.Writer.Wait).
func (w *writer) notifyTicket(method string) (flush.Ticket, error) {
	b, err := w.fw.Begin()
	if err != nil {
		return flush.Ticket{}, err
	}
	mark := len(b)
	b = append(msgpack.AppendArrayHeader(b, 3), wire.TypeNotification)
	b = msgpack.AppendArrayHeader(msgpack.AppendString(b, method), 0)
	b, ticket := w.fw.Link(b, nil) // nothing linked: a mark to wait for
	w.commit(b, mark, 0)
	return ticket, nil
}

// appendEncoded appends eb's bytes to b, or, when they are large, hands
// eb's buffer over to the writer (which returns it to wire's pool once
// written) and returns how many bytes it linked; fw's lock is held.
func (w *writer) appendEncoded(b []byte, eb *encBuf) ([]byte, int) {
	if n := len(eb.b); n >= linkMin {
		b = w.fw.LinkOwned(b, eb.b)
		eb.b = nil
		return b, n
	}
	return append(b, eb.b...), 0
}

// linkable returns the bytes of v when it is a []byte or codec.Raw (or a
// pointer to one) of at least linkMin bytes, which go out by reference,
// and whether they are a bin's (rather than an encoded value's).
func linkable(v any) (body []byte, bin bool) {
	switch v := v.(type) {
	case []byte:
		body, bin = v, true
	case *[]byte:
		if v != nil {
			body, bin = *v, true
		}
	case codec.Raw:
		body = v
	case *codec.Raw:
		if v != nil {
			body = *v
		}
	}
	if len(body) < linkMin {
		return nil, false
	}
	return body, bin
}

// link queues body by reference after b, as a bin when bin is set; fw's
// lock is held. After commit, the caller waits for the ticket: body is the
// caller's (or the handler's) and must not be kept past its write.
func (w *writer) link(b, body []byte, bin bool) ([]byte, flush.Ticket) {
	if bin {
		b = msgpack.AppendBinHeader(b, len(body))
	}
	return w.fw.Link(b, body)
}

// unqueued is the place claimUnqueued gives a request not yet queued.
const unqueued = math.MaxUint64

// claimUnqueued reports whether the request whose place is *seq (see
// request) is not queued yet, and if so sets the place to unqueued, so
// that request never queues it: an abandoned call whose request was
// waiting for room in the write queue was not sent.
func (w *writer) claimUnqueued(seq *uint64) bool {
	w.fw.Lock()
	defer w.fw.Unlock()
	if *seq != 0 {
		return false
	}
	*seq = unqueued
	return true
}

// stopRequests makes every later request fail with errNoRequests. Once it
// returns, the sequence numbers of all requests queued are set.
func (w *writer) stopRequests() {
	w.fw.Lock()
	w.noRequests = true
	w.fw.Unlock()
}

// encBuf is an encoder and its buffer, pooled: a call's arguments or
// reply are encoded into one outside the writer's lock, then copied into
// the batch, or, when large, handed over to the writer.
type encBuf struct {
	b   []byte
	enc *encode.Encoder
}

var encBufs = sync.Pool{New: func() any { return &encBuf{b: make([]byte, 0, 1<<10), enc: encode.New()} }}

func getEncBuf() *encBuf { return encBufs.Get().(*encBuf) }

// put returns eb to the pool; a large buffer goes back to wire's.
func (eb *encBuf) put() {
	if cap(eb.b) > keepSpare {
		wire.PutBuffer(eb.b)
		eb.b = nil
	}
	encBufs.Put(eb)
}

// params appends args as a one-element params array, [] for nil, or the
// elements of a Params as the params array itself.
func (eb *encBuf) params(b []byte, args any) ([]byte, error) {
	if args == nil {
		return msgpack.AppendArrayHeader(b, 0), nil
	}
	if p, ok := args.(Params); ok {
		b = msgpack.AppendArrayHeader(b, len(p))
		for i, v := range p {
			var err error
			if b, err = eb.enc.Append(b, v); err != nil {
				return b, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInternal, "cannot encode param %d: %v", i, err))
			}
		}
		return b, nil
	}
	b, err := eb.enc.Append(msgpack.AppendArrayHeader(b, 1), args)
	if err != nil {
		return b, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInternal, "cannot encode arguments: %v", err))
	}
	return b, nil
}

// response queues [1, id, error, result, ext?]. A reply that fails to
// encode becomes a CodeInternal error response. The reply is encoded
// before the writer's lock is taken; a large []byte or codec.Raw reply
// goes out by reference, and response returns once it is written.
func (w *writer) response(id uint32, reply any, herr error, ext bool) error {
	var body []byte
	var bin bool
	var eb *encBuf
	if herr == nil {
		if body, bin = linkable(reply); body == nil {
			eb = getEncBuf()
			defer eb.put()
			var err error
			if eb.b, err = eb.enc.Append(eb.b[:0], reply); err != nil {
				herr = ferry.Errorf(ferry.CodeInternal, "cannot encode the reply: %v", err)
			}
		}
	}
	if herr == nil {
		// A reply past the message limit is replaced by an error: the
		// peer would close the stream every call shares.
		size := 3 + uintSize(id) // array header, type, nil error
		switch {
		case eb != nil:
			size += len(eb.b)
		case bin:
			size += binHeaderSize(len(body)) + len(body)
		default:
			size += len(body)
		}
		if max, peers := w.c.opts.Limits.SendMax(); size > max {
			body = nil
			herr = ferry.Errorf(ferry.CodeResourceExhausted, "the reply (%d bytes) is larger than %s", size, limitName(max, peers))
		} else if max, peers := w.c.opts.Limits.SendDepth(); !bin && mayNest(reply, max-1) {
			if err := badValue(replyBytes(body, eb), 2, max); errors.Is(err, msgpack.ErrTooDeep) {
				body = nil
				herr = ferry.Errorf(ferry.CodeResourceExhausted, "the reply nests deeper than %s", depthName(max, peers))
			} else if err != nil {
				body = nil
				herr = ferry.Errorf(ferry.CodeInternal, "the reply is not one msgpack value (%v): a codec.Raw or a custom encoder wrote malformed bytes", err)
			}
		}
	}
	b, err := w.fw.Begin()
	if err != nil {
		return err
	}
	mark := len(b)
	if herr != nil {
		max, _ := w.c.opts.Limits.SendMax()
		w.commit(status.AppendErrorWithin(b, id, herr, ext, max), mark, 0)
		return nil
	}
	b = msgpack.AppendArrayHeader(b, 4)
	b = msgpack.AppendNil(msgpack.AppendUint(append(b, wire.TypeResponse), uint64(id)))
	if body == nil {
		var linked int
		b, linked = w.appendEncoded(b, eb)
		w.commit(b, mark, linked)
		return nil
	}
	b, ticket := w.link(b, body, bin)
	w.commit(b, mark, len(body))
	w.fw.Wait(context.Background(), ticket)
	return nil
}

// limitName names the message limit a message passed (wire.Limits.SendMax):
// this side's own, or the peer's, which it said in its hello.
func limitName(max int, peers bool) string {
	if peers {
		return fmt.Sprintf("the peer's %d-byte message limit", max)
	}
	return fmt.Sprintf("the %d-byte message limit", max)
}

// uintSize is the size of v encoded by msgpack.AppendUint.
func uintSize(v uint32) int {
	switch {
	case v < 1<<7:
		return 1
	case v < 1<<8:
		return 2
	case v < 1<<16:
		return 3
	}
	return 5
}

// strHeaderSize is the size of a str header for n bytes
// (msgpack.AppendString's).
func strHeaderSize(n int) int {
	switch {
	case n < 32:
		return 1
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	}
	return 5
}

// binHeaderSize is the size of msgpack.AppendBinHeader's header for n.
func binHeaderSize(n int) int {
	switch {
	case n < 1<<8:
		return 2
	case n < 1<<16:
		return 3
	}
	return 5
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
