package engine

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/meta"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
)

func (c *Channel) readLoop() {
	// The reader goroutine is charged while it runs (a parked reader has
	// none): many streams each holding one byte of a message would
	// otherwise hold far more than their buffers.
	c.opts.Budget.Force(readerOverhead)
	c.armIdle()
	for {
		// The reader waits in Next while the conn is idle: handle keeps
		// its large frame off the stack then, so that the stack, grown
		// while handling, shrinks back to 4 KiB.
		idle := c.pk != nil && c.rd.Idle()
		if idle {
			c.rdWait.Store(true) // the idle timer may wake Next now
		}
		b, err := c.rd.Next()
		if idle {
			c.rdWait.Store(false)
			if c.parking.Load() {
				if err != nil && c.parkRequested(err) {
					if c.park() {
						c.opts.Budget.Release(readerOverhead)
						return // resume starts the reader again
					}
					continue
				}
				c.unpark() // a message came first: no deadline while handling it
			}
		}
		if !c.handle(b, err, &c.onFirst) {
			break
		}
	}
	c.stopIdle()
	c.rd.Close()
	c.opts.Budget.Release(readerOverhead)
	close(c.readDone)
	c.loops.Done()
}

// readerOverhead is charged to the budget while the reader goroutine
// runs: its stack and what it holds besides its buffer (a stream holding
// one byte of a message measured about 15 KiB in all).
const readerOverhead = 8 << 10

// handle handles what the reader read: a message b, or err. It returns
// false when the reader must return.
//
//go:noinline
func (c *Channel) handle(b []byte, err error, first *func()) bool {
	if c.stopRead.Load() {
		return false // closing: this message is not read (stopReading)
	}
	if c.quiet.Load() {
		c.quiet.Store(false) // the idle timer sees a message came
	}
	if c.pk == nil && err == nil {
		c.lastMsg.Store(time.Now().UnixNano())
	}
	if err == nil && *first != nil && c.rd.Body() == 0 {
		(*first)()
		*first = nil
	}
	if err == io.EOF {
		c.endInput()
		return false
	}
	if err != nil {
		c.readFailed(err)
		return false
	}
	if c.rd.Body() > 0 {
		whole, ok := *first != nil, true
		if !whole {
			whole, ok = c.handleHead(b)
		}
		if !whole {
			return ok
		}
		if b, err = c.rd.Whole(); err != nil {
			c.readFailed(err)
			return false
		}
		if *first != nil {
			(*first)()
			*first = nil
		}
	}
	// The reader's scanner found where the message's elements begin
	// while it framed the message: no second walk over it.
	m, err := wire.ParseScanned(b, c.rd.Elements())
	if err != nil {
		c.fail(err, false)
		return false
	}
	if m.Type == wire.TypeResponse {
		c.complete(&m)
	} else {
		if m.Type == wire.TypeRequest {
			c.nread++
		}
		c.serve(&m)
	}
	if c.helloDue {
		// The first message was handled: the hello, whose answer is
		// queued, or none is coming. Calls waiting for it go out now,
		// behind the answer (awaitHello).
		c.helloDue = false
		c.opts.Limits.Peer.Settle()
	}
	return true
}

// CallOverhead is charged to the budget for every call from its arrival
// until its reply is queued, besides its arguments: the handler
// goroutine's stack (reused workers keep stacks grown through handlers and
// encoders) and the call's bookkeeping. A streaming call is charged it too
// while its handler runs.
const CallOverhead = 16 << 10

// inbound is one incoming call on its way through a handler goroutine.
type inbound struct {
	c          *Channel
	meth       *registry.Method
	args       any
	ctx        context.Context
	call       callCtx       // in.ctx's core when the call can end early (cancelable)
	md         meta.Incoming // the call's metadata, which call refers to
	cancelable bool
	id         uint32
	isReq      bool
	ext        bool
	canceled   bool // by the peer's $ferry.cancel: no response; guarded by c.mu
	info       ferry.CallInfo
	cost       int          // bytes charged to the budget until the reply is queued
	state      atomic.Int32 // admitted, started or abandoned
}

// inbounds recycles the records of calls that handed out nothing of
// theirs (see inbound.recycle).
var inbounds = sync.Pool{New: func() any { return new(inbound) }}

// recycle returns in to inbounds once its handler has returned and its
// reply is queued, if nothing can still reach it: a handler may keep its
// context after it returns, and once canceled that context must stay so,
// so a record whose embedded callCtx was handed out (a call from a Ferry
// peer) is left to the garbage collector; so is one whose CallInfo an
// interceptor saw. Calls from spec-only peers, and notifications without
// extensions, reuse theirs.
func (in *inbound) recycle() {
	if in.cancelable || in.c.opts.Server != nil {
		return
	}
	*in = inbound{}
	inbounds.Put(in)
}

// The states of an inbound call: a handler starts only if it moves the
// call from admitted to started, and Close answers only the calls it moves
// from admitted to abandoned.
const (
	admitted int32 = iota
	started
	abandoned
)

// serve decodes an incoming request or notification in the reader
// goroutine and runs its handler in a new one.
func (c *Channel) serve(m *wire.Message) {
	// Only interceptors see it (CallInfo.Received); the reader notes it
	// only when there are some (SetStamp).
	received := c.rd.ReadAt()
	isReq := m.Type == wire.TypeRequest
	ext := m.Ext != nil
	if len(m.Method) > 0 && m.Method[0] == '$' {
		c.control(m)
		return
	}
	if c.locked.Load() {
		c.refuse(m, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnauthenticated, "the connection is not authenticated")))
		return
	}
	if c.draining.Load() {
		c.refuse(m, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the server is shutting down")))
		return
	}
	var meth *registry.Method
	if c.opts.Registry != nil {
		meth = c.opts.Registry.Lookup(m.Method)
	}
	if meth == nil {
		c.refuse(m, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown method %q", truncate(m.Method))))
		return
	}
	if !meth.Unary() {
		c.refuse(m, ferry.Errorf(ferry.CodeUnimplemented, "%s is a %s-streaming method: open a stream to call it", meth.Name, meth.Kind))
		return
	}
	size := len(m.Params)
	if c.head != nil {
		size = c.head.Body + 8 // its params: the bin and their headers
	}
	// The elements the message's arrays and maps declare, and its maps
	// and their entries: the reader's scanner counted them while it
	// framed the message (a direct body's head declares a few; its bin
	// none).
	cost := meth.DecodeCost(size, c.rd.Items(), c.rd.MapItems()) + CallOverhead
	if !c.opts.Budget.Charge(cost) {
		c.refuse(m, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "the connection's memory budget is spent: too much data in calls not yet answered")))
		return
	}
	adm := c.opts.Limiter.reserve()
	if adm == refused {
		c.opts.Budget.Release(cost)
		c.refuse(m, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many calls running on this connection")))
		return
	}
	in := inbounds.Get().(*inbound)
	*in = inbound{c: c, meth: meth, id: m.ID, isReq: isReq, ext: ext, ctx: c.baseCtx, cost: cost}
	in.info = ferry.CallInfo{Method: meth.Name, Notify: !isReq, Received: received}
	var aerr *ferry.Error
	if c.head != nil {
		if in.args = c.readArgs(m); in.args == nil {
			c.opts.Budget.Release(cost)
			c.opts.Limiter.unreserve(adm)
			*in = inbound{}
			inbounds.Put(in)
			return
		}
		if c.opts.Server != nil {
			in.info.Received = time.Now() // the message is whole only now
		}
	} else if in.args, aerr = meth.DecodeArgs(c.dec, m.Params, c.opts.DisallowUnknownFields); aerr != nil {
		c.opts.Budget.Release(cost)
		c.opts.Limiter.unreserve(adm)
		c.refuse(m, aerr)
		return
	}
	if ext {
		re, err := wire.ParseRequestExtInto(m.Ext, &in.md)
		if err != nil {
			c.opts.Budget.Release(cost)
			c.opts.Limiter.unreserve(adm)
			if errors.Is(err, wire.ErrMetadataTooLarge) {
				c.refuse(m, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInvalidArgument, "%s: %v", meth.Name, err)))
			} else {
				c.refuse(m, ferry.Errorf(ferry.CodeInvalidArgument, "malformed extensions: %s", wire.ExtReason(err)))
			}
			return
		}
		if re.Timeout != 0 || isReq {
			in.call.init(in.ctx, re.Incoming, time.Duration(max(re.Timeout, 0)), re.Timeout != 0)
			in.ctx, in.cancelable = &in.call, true
		} else if re.Incoming != nil {
			// in may be reused once the handler returns, while a
			// handler may keep its context: the metadata moves out.
			in.ctx = context.WithValue(in.ctx, meta.Key{}, re.Incoming.Clone())
		}
	}
	c.mu.Lock()
	if c.err != nil || c.draining.Load() {
		c.mu.Unlock()
		c.opts.Budget.Release(cost)
		c.opts.Limiter.unreserve(adm)
		in.cancel()
		c.refuse(m, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the server is shutting down")))
		return
	}
	c.active.Add(1)
	c.invoking.Add(1)
	if in.cancelable && isReq {
		if c.running == nil {
			c.running = make(map[uint32]*inbound) // dropped while the reader is parked
		}
		c.running[m.ID] = in
	}
	identity := c.identity
	c.mu.Unlock()
	if identity != nil {
		in.ctx = ferry.WithIdentity(in.ctx, identity)
	}
	if adm == queued {
		c.opts.Limiter.enqueue(in)
		return
	}
	c.dispatch(in)
}

// workerIdle is how long an idle handler goroutine waits for more work
// before it exits: between one and two periods, since one timer per conn
// (the reaper) retires, every period, the workers that stayed idle
// through the whole previous one. Short, like readerIdle and writerIdle:
// the stack of a worker retired soon after a burst serves the
// connections still busy instead of staying behind as a hole once they
// are idle too (an idle pair measured 3–4 KiB less with 250 ms than with
// 1 s), and a call that finds no worker only starts a goroutine.
const workerIdle = 250 * time.Millisecond

// reapEvery is the reaper's period: workerIdle, or what a test set.
func (c *Channel) reapEvery() time.Duration {
	if c.workerIdle > 0 {
		return c.workerIdle
	}
	return workerIdle
}

// worker is an idle handler goroutine's mailbox.
type worker struct {
	next   chan *inbound // buffered: dispatch hands a call, or the reaper nil
	served bool          // it served a call since the reaper last looked (under wmu)
}

// dispatch runs in on an idle worker goroutine of this conn, or a new one.
// Reusing goroutines keeps their grown stacks: a fresh goroutine per call
// spends much of its time growing its stack through the handler and the
// reply's encoding. The most recently idle worker is reused first, so
// that under a light load the others stay idle long enough to exit. Only
// the reader goroutine calls dispatch.
func (c *Channel) dispatch(in *inbound) {
	c.wmu.Lock()
	if n := len(c.idleWk); n > 0 {
		w := c.idleWk[n-1]
		c.idleWk[n-1] = nil
		c.idleWk = c.idleWk[:n-1]
		c.wmu.Unlock()
		c.opts.Limiter.leftIdle(1)
		w.next <- in // buffered and empty: never blocks
		return
	}
	c.nWorkers++
	if c.nWorkers == 1 && !c.wkStop {
		if c.reaper == nil {
			c.reaper = time.AfterFunc(c.reapEvery(), c.reap)
		} else {
			c.reaper.Reset(c.reapEvery())
		}
	}
	c.wmu.Unlock()
	c.workers.Add(1)
	go c.runWorker(in)
}

// runWorker runs in, then waits on its own channel for the next call.
// It parks in a plain channel receive, not a select with a timer and the
// conn's end: the reaper and stopWorkers wake it with nil instead.
func (c *Channel) runWorker(in *inbound) {
	defer c.workers.Done()
	w := &worker{next: make(chan *inbound, 1)}
	for in != nil {
		in.loop()
		c.wmu.Lock()
		if c.wkStop || !c.opts.Limiter.keepIdle() {
			c.nWorkers--
			c.wmu.Unlock()
			return
		}
		w.served = true
		c.idleWk = append(c.idleWk, w)
		c.wmu.Unlock()
		in = <-w.next
	}
}

// reap runs every workerIdle while the conn has workers: it retires the
// idle workers that served no call in the period that ended.
func (c *Channel) reap() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wkStop {
		return
	}
	kept := c.idleWk[:0]
	for _, w := range c.idleWk {
		if w.served {
			w.served = false
			kept = append(kept, w)
			continue
		}
		c.nWorkers--
		w.next <- nil // it is idle, so its channel is empty
	}
	c.opts.Limiter.leftIdle(len(c.idleWk) - len(kept))
	clear(c.idleWk[len(kept):])
	c.idleWk = kept
	if c.nWorkers > 0 {
		c.reaper.Reset(c.reapEvery())
		return
	}
	// Every worker is gone: an idle conn keeps no timer (the next
	// dispatch starts one), nor the list's array.
	c.reaper, c.idleWk = nil, nil
}

// stopWorkers retires the idle workers when the conn ends; busy ones exit
// when their calls return.
func (c *Channel) stopWorkers() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wkStop = true
	if c.reaper != nil {
		c.reaper.Stop()
	}
	for i, w := range c.idleWk {
		c.nWorkers--
		w.next <- nil
		c.idleWk[i] = nil
	}
	c.opts.Limiter.leftIdle(len(c.idleWk))
	c.idleWk = nil
}

// refuse answers a request that no handler will run; a notification gets
// nothing.
func (c *Channel) refuse(m *wire.Message, err *ferry.Error) {
	if c.opts.OnRefused != nil {
		name := ""
		if c.opts.Registry != nil {
			if meth := c.opts.Registry.Lookup(m.Method); meth != nil {
				name = meth.Name
			}
		}
		c.opts.OnRefused(name, err)
	}
	if m.Type == wire.TypeRequest {
		_ = c.w.response(m.ID, nil, err, m.Ext != nil)
	}
}

// errOneParam is what a control notification whose params are not one
// value gets: it is ignored.
var errOneParam = errors.New("ferry: a control notification takes exactly one param")

// decodeParam decodes the single param of a control notification
// ($ferry.cancel [id], $ferry.drained [n]); params of any other shape
// are an error, so that [] is not taken for [0]. (Handler arguments go
// through registry.Method.DecodeArgs.)
func (c *Channel) decodeParam(p []byte, v any) error {
	n, hdr, ok := msgpack.ArrayLen(p)
	if !ok || n != 1 {
		return errOneParam
	}
	return c.dec.Decode(p[hdr:], v)
}

// loop runs in's handler, then, in the same goroutine, queued calls that
// inherit its slot.
func (in *inbound) loop() {
	lim := in.c.opts.Limiter
	for in != nil {
		in.run()
		in = lim.done()
	}
}

func (in *inbound) run() {
	c := in.c
	defer c.handlerDone()
	defer c.opts.Budget.Release(in.cost)
	if c.baseCtx.Err() != nil && in.unstartedRefused() {
		c.invoking.Add(-1)
		return // the conn ended first: refuseUnstarted answers it
	}
	if !in.state.CompareAndSwap(admitted, started) {
		c.invoking.Add(-1)
		return // refused when the conn closed (refuseUnstarted)
	}
	var reply any
	var err error
	if ended := in.ctx.Err(); ended != nil {
		// Its deadline passed or its caller gave up while it waited for
		// a slot: run no handler for a call nobody waits for. When the
		// connection ended instead (its context is the call's parent),
		// the call is answered as Close answers it (refuseUnstarted),
		// not as canceled by its caller.
		fe := ferry.MarkNotExecuted(status.Context(ended))
		if c.baseCtx.Err() != nil {
			fe = errNotStarted
		}
		if c.opts.OnRefused != nil {
			c.opts.OnRefused(in.info.Method, fe)
		}
		err = fe
	} else {
		reply, err = in.invoke()
	}
	c.invoking.Add(-1) // before the reply: its caller may get it at once
	canceledByPeer := false
	if in.cancelable {
		if in.isReq {
			// A later request with the same msgid may have taken in's
			// place in running: in is still answered, unless the peer
			// canceled it.
			c.mu.Lock()
			if c.running[in.id] == in {
				delete(c.running, in.id)
			}
			canceledByPeer = in.canceled
			c.mu.Unlock()
		}
		in.cancel()
	}
	switch {
	case in.isReq && !canceledByPeer:
		_ = c.w.response(in.id, reply, err, in.ext)
	case err != nil:
		c.opts.Logger.Debug("ferry: handler failed", "method", in.info.Method, "err", err)
	}
	in.recycle()
}

// unstartedRefused reports whether refuseUnstarted answers in, a call
// whose conn ended before it started: a request from a Ferry peer, still
// in running. It answers it before $ferry.drained counts it (PROTOCOL.md
// 4); in's own goroutine (a queued call's, which a slot or the hook of
// Limiter.enqueue took) could answer it after the count.
func (in *inbound) unstartedRefused() bool {
	if !in.cancelable || !in.isReq {
		return false
	}
	c := in.c
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running[in.id] == in
}

func (in *inbound) invoke() (reply any, err error) {
	defer func() {
		if p := recover(); p != nil {
			// in the handler, or, when there are interceptors, in one of
			// them (handle recovers the handler's own)
			reply, err = in.panicked(p, in.c.opts.Server != nil)
		}
	}()
	if ic := in.c.opts.Server; ic != nil {
		return ic(in.ctx, &in.info, in.args, in.handle)
	}
	return in.meth.Call(in.ctx, in.args)
}

// handle is the handler as the interceptors call it: a panic in it is the
// call's failure, which next returns to each of them, so that every
// interceptor sees the outcome the caller gets.
func (in *inbound) handle(ctx context.Context, args any) (reply any, err error) {
	defer func() {
		if p := recover(); p != nil {
			reply, err = in.panicked(p, false)
		}
	}()
	return in.meth.Call(ctx, args)
}

// panicked logs p, a panic recovered from in's handler (or from a server
// interceptor, when interceptor), and returns the failure the caller gets.
func (in *inbound) panicked(p any, interceptor bool) (any, error) {
	if interceptor {
		in.c.opts.Logger.Error("ferry: server interceptor panicked", "method", in.info.Method, "panic", p)
		return nil, ferry.Errorf(ferry.CodeInternal, "a server interceptor of %s panicked", in.info.Method)
	}
	in.c.opts.Logger.Error("ferry: handler panicked", "method", in.info.Method, "panic", p)
	return nil, ferry.Errorf(ferry.CodeInternal, "the handler of %s panicked", in.info.Method)
}

// control handles Ferry's reserved methods. Unknown notifications are
// ignored; unknown requests, and requests for a method sent only as a
// notification, get CodeUnimplemented, not executed.
func (c *Channel) control(m *wire.Message) {
	if m.Type == wire.TypeRequest {
		var reply any
		err := error(ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown method %q", truncate(m.Method))))
		switch {
		case wire.NotificationOnly(m.Method):
			err = ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "%s is a control notification: sent as a request, it is not executed", m.Method))
		case c.opts.Control != nil:
			if string(m.Method) == wire.MethodHello {
				if p, _, ok := wire.FirstParam(m.Params); ok {
					c.opts.Limits.Peer.Learn(wire.HelloMax(p))
					c.opts.Limits.Peer.LearnDepth(wire.HelloDepth(p))
				}
			}
			reply, err = c.opts.Control(string(m.Method), m.Params)
		}
		_ = c.w.response(m.ID, reply, err, m.Ext != nil)
		return
	}
	switch string(m.Method) {
	case wire.MethodCancel:
		var id uint32
		if c.decodeParam(m.Params, &id) != nil {
			return
		}
		c.mu.Lock()
		in := c.running[id]
		delete(c.running, id)
		if in != nil {
			in.canceled = true
		}
		c.mu.Unlock()
		if in != nil {
			in.cancel()
		}
	case wire.MethodDrained:
		var n uint64
		if c.decodeParam(m.Params, &n) == nil {
			c.peerDrained(n)
		}
	case wire.MethodGoAway:
		c.mu.Lock()
		c.goaway = true
		c.mu.Unlock()
		if c.opts.OnGoAway != nil {
			c.opts.OnGoAway()
		}
	case wire.MethodHello:
		// A request only: sent as a notification it would authenticate,
		// or promise a $ferry.settled, with no answer; it is ignored.
	default:
		if c.opts.Control != nil {
			_, _ = c.opts.Control(string(m.Method), m.Params)
		}
	}
}

// truncate keeps a huge method name from inflating an error reply.
func truncate(name []byte) []byte {
	if len(name) > 128 {
		return name[:128]
	}
	return name
}
