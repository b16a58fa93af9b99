package engine

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/async"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
)

// pending is an outgoing call awaiting its response.
type pending struct {
	id    uint32
	reply any
	err   error
	done  chan struct{} // sent on once, for a call waiting in Call
	call  *async.Call   // the handle of an asynchronous call (Go); nil for Call
	stop  func() bool   // unregisters the ctx watcher of an async call
	conn  *Channel      // for abandon
	ctx   context.Context
	seq   uint64 // its place among the requests sent; 0 until queued
	batch uint64 // the write queue's batch its request joined (flush.Writer.Batch)
	ends  bool   // its context can end it (direct.go)
	hello bool   // its reply is $ferry.hello's answer: the reader learns the peer's limit from it
}

func (p *pending) finish(err error) {
	if p.stop != nil {
		p.stop()
	}
	if p.call != nil {
		async.Finish(p.call, err)
		return
	}
	p.err = err
	p.done <- struct{}{}
}

// goCall is an asynchronous call's pending entry and its handle, in one
// allocation.
type goCall struct {
	p    pending
	call async.Call
}

// syncPool recycles the pending entries of synchronous calls: only Call
// knows when its entry is free again (it has read the result), while an
// asynchronous call's handle lives on with the caller.
var syncPool = sync.Pool{New: func() any { return &pending{done: make(chan struct{}, 1)} }}

// Call sends a request and waits for its result, which is decoded into
// reply. Cancelling ctx abandons the call at once and asks the peer to
// cancel the handler, unless the response has already begun to arrive
// into reply's own array (a large []byte body read straight into it,
// direct.go): then Call returns once the read under way ends, which the
// stall timeout bounds.
func (c *Channel) Call(ctx context.Context, method string, args, reply any) error {
	if err := status.CheckCall(ctx, method, reply); err != nil {
		return err
	}
	if ic := c.opts.Client; ic != nil {
		return ic(ctx, callInfo(method, false), args, reply, c.invoker)
	}
	return c.call(ctx, method, args, reply, false)
}

// Notify sends a one-way notification. It returns once the message is
// queued for writing; no response ever comes.
func (c *Channel) Notify(ctx context.Context, method string, args any) error {
	if err := status.CheckContext(ctx, method); err != nil {
		return err
	}
	if ic := c.opts.Client; ic != nil {
		return ic(ctx, callInfo(method, true), args, nil, c.invoker)
	}
	return c.notify(ctx, method, args)
}

// SendControl sends a reserved notification ($...), bypassing
// interceptors.
func (c *Channel) SendControl(method string, args any) error {
	return c.writeErr(c.w.notify(context.Background(), method, args, nil))
}

// ControlCall calls a reserved method ($...), bypassing interceptors.
// The answer to $ferry.hello teaches the channel the peer's message limit
// (Options.Limits.Peer), in the reader, before it reads the next message.
func (c *Channel) ControlCall(ctx context.Context, method string, args, reply any) error {
	return c.call(ctx, method, args, reply, method == wire.MethodHello)
}

// Go starts an asynchronous call and returns its handle. It waits only
// for room in the write queue (highWater), until ctx ends, not for the
// network; interceptors, if any, run in a goroutine, and so does the
// wait for the peer's hello (awaitHello) while it has not been handled.
func (c *Channel) Go(ctx context.Context, method string, args, reply any) *async.Call {
	g := new(goCall)
	async.Init(&g.call, method, args, reply)
	p := &g.p
	p.call = &g.call
	if err := status.CheckCall(ctx, method, reply); err != nil {
		p.finish(err)
		return p.call
	}
	if ic := c.opts.Client; ic != nil || !c.opts.Limits.Peer.Settled() {
		c.mu.Lock()
		if c.err != nil {
			c.mu.Unlock()
			p.finish(notSent(c.err))
			return p.call
		}
		c.asyncs.Add(1) // Close waits for it
		c.mu.Unlock()
		go func() {
			defer c.asyncs.Done()
			if ic != nil {
				p.finish(c.goIntercepted(ctx, ic, method, args, reply))
				return
			}
			p.reply = reply
			if err := c.start(ctx, method, args, p); err != nil {
				p.finish(err)
			}
		}()
		return p.call
	}
	p.reply = reply
	if err := c.start(ctx, method, args, p); err != nil {
		p.finish(err)
	}
	return p.call
}

// goIntercepted runs a Go call through the client interceptors. A panic
// in one becomes the call's CodeInternal error: it happens in a goroutine
// the caller cannot recover in, and Go never panics nor drops a result.
// The error is flagged not executed when the panic came before any
// interceptor called next: nothing was sent.
func (c *Channel) goIntercepted(ctx context.Context, ic ferry.ClientInterceptor, method string, args, reply any) (err error) {
	var sent atomic.Bool // next was called: the call may have gone out
	defer func() {
		if r := recover(); r != nil {
			c.opts.Logger.Error("ferry: client interceptor panicked", "method", method, "panic", r)
			fe := ferry.Errorf(ferry.CodeInternal, "a client interceptor of %s panicked", method)
			if !sent.Load() {
				fe = ferry.MarkNotExecuted(fe)
			}
			err = fe
		}
	}()
	return ic(ctx, callInfo(method, false), args, reply, func(ctx context.Context, info *ferry.CallInfo, args, reply any) error {
		sent.Store(true)
		return c.invoker(ctx, info, args, reply)
	})
}

func (c *Channel) invoke(ctx context.Context, info *ferry.CallInfo, args, reply any) error {
	if err := status.CheckCall(ctx, info.Method, reply); err != nil {
		return err // an interceptor passed them on
	}
	if info.Notify {
		return c.notify(ctx, info.Method, args)
	}
	return c.call(ctx, info.Method, args, reply, false)
}

func (c *Channel) call(ctx context.Context, method string, args, reply any, hello bool) error {
	p := syncPool.Get().(*pending)
	p.reply, p.hello = reply, hello
	if err := c.start(ctx, method, args, p); err != nil {
		p.reply = nil
		syncPool.Put(p)
		return err
	}
	if done := ctx.Done(); done == nil {
		<-p.done // a context that never ends: a plain receive, no select
	} else {
		select {
		case <-p.done:
		case <-done:
			if c.abandon(p, ctx.Err()) {
				p.reply = nil
				syncPool.Put(p)
				return status.Context(ctx.Err())
			}
			c.abandonLent(p, ctx.Err())
			<-p.done // the response won the race; its decode is finishing
		}
	}
	err := p.err
	p.reply, p.err = nil, nil
	syncPool.Put(p)
	return err
}

func (c *Channel) notify(ctx context.Context, method string, args any) error {
	if err := c.awaitHello(ctx); err != nil {
		return err
	}
	if err := c.Err(); err != nil {
		// The conn has failed: its writer may not have latched the error
		// yet (it learns of it on its next flush), so do not queue.
		return notSent(err)
	}
	if c.goingAway() {
		// As a call: the peer would drop it unread (PROTOCOL.md, "Going
		// away").
		return ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the peer is shutting down"))
	}
	if c.opts.FerryPeer {
		ext, err := status.RequestExt(ctx)
		if err != nil {
			return err
		}
		return notSent(c.w.notify(ctx, method, args, &ext))
	}
	return notSent(c.w.notify(ctx, method, args, nil))
}

// goingAway reports whether the peer announced it is going away.
func (c *Channel) goingAway() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goaway
}

// awaitHello returns ctx's error, not executed, when ctx has ended; else,
// before the peer's hello was handled (Options.Limits.Peer: a server's
// call to its client, from its connect hook, may come before the client's
// hello is read), it waits for that, until ctx ends: a request is then
// bounded by the peer's limit too, and goes out after the hello's answer.
// The hello is a Ferry client's first message, sent as it connects: the
// wait is bounded by the server's SniffTimeout, after which a session
// that sent no complete message is closed (the end of a conn settles the
// wait too).
func (c *Channel) awaitHello(ctx context.Context) error {
	if peer := c.opts.Limits.Peer; !peer.Settled() {
		peer.Await(ctx.Done())
	}
	if err := ctx.Err(); err != nil {
		return ferry.MarkNotExecuted(status.Context(err))
	}
	return nil
}

// notSent maps err, the reason a call or notification was never queued
// (a failed connection, a failed write the writer has latched, the
// context's end while the queue was full), to what its caller sees: not
// sent, flagged not executed. A nil err stays nil.
func notSent(err error) error {
	if err == nil {
		return nil
	}
	return notExecuted(status.NotSent(err))
}

// start registers p and queues its request. On an error p is neither
// registered nor finished. If the conn fails after registration, p is
// finished with that error and start returns nil.
func (c *Channel) start(ctx context.Context, method string, args any, p *pending) error {
	if err := c.awaitHello(ctx); err != nil {
		return err
	}
	var ext *wire.RequestExt
	if c.opts.FerryPeer {
		e, err := status.RequestExt(ctx)
		if err != nil {
			return err
		}
		ext = &e
	}
	c.mu.Lock()
	switch {
	case c.err != nil:
		c.mu.Unlock()
		return notSent(c.err)
	case c.goaway:
		c.mu.Unlock()
		return ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the peer is shutting down"))
	}
	// Ids are handed out in order, so until they wrap around none is in
	// use: one map operation per call.
	for c.nextID++; c.nextID == 0 || c.wrapped; c.nextID++ {
		c.wrapped = true
		if _, busy := c.calls[c.nextID]; !busy {
			break
		}
	}
	p.id, p.conn, p.seq, p.ends = c.nextID, c, 0, ctx.Done() != nil
	if c.calls == nil {
		c.calls = make(map[uint32]*pending) // dropped while the reader is parked
	}
	c.calls[p.id] = p
	if p.call != nil && ctx.Done() != nil {
		p.ctx = ctx
		p.stop = context.AfterFunc(ctx, p.abandonAsync)
	}
	c.mu.Unlock()
	// A synchronous call (it waits anyway) sends large arguments uncopied.
	if err := c.w.request(ctx, p.call == nil, p.id, method, args, ext, &p.seq, &p.batch); err != nil {
		if c.remove(p) {
			if p.stop != nil {
				p.stop()
				p.stop = nil
			}
			return notSent(err)
		}
	}
	return nil
}

// abandonAsync ends an asynchronous call whose context ended. A call
// whose request was still waiting for room in the write queue was not
// sent: it fails flagged not executed, and the peer is told nothing.
// Otherwise the peer's cancel is queued before the call ends when the
// write queue has room, so that it goes out ahead of whatever the caller
// sends once Wait returns; when the queue is full, the call ends first
// and the cancel waits for room.
func (p *pending) abandonAsync() {
	c, err := p.conn, p.ctx.Err()
	if !c.remove(p) {
		c.abandonLent(p, err)
		return
	}
	if c.w.claimUnqueued(&p.seq) {
		p.finish(ferry.MarkNotExecuted(status.Context(err)))
		return
	}
	id := p.id
	queued := c.cancelPeer(endedCtx, id, err) // endedCtx: no waiting for room
	p.finish(status.Context(err))
	if !queued {
		c.cancelPeer(context.Background(), id, err)
	}
}

// endedCtx is a context that has ended: writes given it never wait for
// room.
var endedCtx = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// abandon removes p if no response has claimed it yet, and tells a Ferry
// peer to cancel the handler (not for a deadline: the peer enforces that
// one itself, and its handler then sees context.DeadlineExceeded).
func (c *Channel) abandon(p *pending, why error) bool {
	if !c.remove(p) {
		return false
	}
	c.cancelPeer(context.Background(), p.id, why)
	return true
}

// cancelPeer tells a Ferry peer to cancel the handler of call id, whose
// context ended for why (not for a deadline: the peer enforces that one
// itself, and its handler then sees context.DeadlineExceeded); ctx bounds
// the wait for room in the write queue. It reports whether nothing is
// left to send: the cancel was queued, or none is due.
func (c *Channel) cancelPeer(ctx context.Context, id uint32, why error) bool {
	if !c.opts.FerryPeer || why == context.DeadlineExceeded {
		return true
	}
	return c.w.notify(ctx, wire.MethodCancel, id, nil) == nil
}

func (c *Channel) remove(p *pending) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls[p.id] != p {
		return false
	}
	delete(c.calls, p.id)
	return true
}

// writeErr maps a writer error to what a caller sees.
func (c *Channel) writeErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*ferry.Error); ok {
		return err
	}
	return callError(err)
}

func notExecuted(err error) error {
	if fe, ok := err.(*ferry.Error); ok {
		return ferry.MarkNotExecuted(fe)
	}
	return err
}

// complete hands a response to the call waiting for it, decoding the
// result straight into the caller's reply.
func (c *Channel) complete(m *wire.Message) {
	c.mu.Lock()
	p := c.calls[m.ID]
	if p != nil {
		delete(c.calls, m.ID)
	}
	c.mu.Unlock()
	if p == nil {
		return // abandoned, or an id we never sent
	}
	var err error
	if p.hello && m.Error == nil {
		c.opts.Limits.Peer.Learn(wire.HelloMax(m.Result))
		c.opts.Limits.Peer.LearnDepth(wire.HelloDepth(m.Result))
	}
	switch {
	case m.Error != nil:
		err = c.remoteError(m)
	case p.reply != nil:
		if derr := c.dec.Decode(m.Result, p.reply); derr != nil {
			err = ferry.Errorf(ferry.CodeInternal, "cannot decode the result into %T: %s", p.reply, msgpack.Reason(derr))
		}
	}
	p.finish(err)
}

// remoteError turns an error field of any shape into a *ferry.Error
// (internal/status holds the one mapping both calls and streams use).
func (c *Channel) remoteError(m *wire.Message) error { return status.Decode(m.Error, m.Ext, c.dec) }
