// Package engine is Ferry's call engine: one MessagePack-RPC conversation
// over one byte stream, in both directions at once. Each side may send
// requests and notifications and serve the other's; the client and the
// server packages are thin layers that create Conns.
//
// Per Conn there is one reader goroutine, which frames messages, decodes
// arguments and replies straight into their destination and dispatches, and
// one writer goroutine, which batches everything queued since its last
// flush into a single write. On a session stream, both exit while the
// stream is idle: the reader parks (park.go) and the next arrival starts
// it again; the writer starts with the next message. Handlers run in
// their own goroutines, so a slow handler never delays other calls on the
// connection.
package engine

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/flush"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// Options configure a Conn. The zero value serves nothing and speaks the
// plain spec.
type Options struct {
	// Limits bound what is read, and what is sent (Limits.SendMax: with
	// Limits.Peer, by the peer's limit too, which a hello tells; while it
	// is not settled, calls wait for it: awaitHello). Zero:
	// wire.DefaultLimits.
	Limits    wire.Limits
	FerryPeer bool // the peer is Ferry: send extensions and control notifications
	// Unauthenticated starts the channel unauthenticated: until
	// Authenticate, requests are refused with CodeUnauthenticated without
	// decoding, notifications are dropped, and messages are bounded by
	// UnauthMaxMessage.
	Unauthenticated bool
	// DisallowUnknownFields refuses arguments with a map key that names
	// no field (registry.Method.DecodeArgs); by default they are skipped.
	DisallowUnknownFields bool
	Registry              *registry.Registry      // methods served to the peer; nil serves none
	Server                ferry.ServerInterceptor // wraps incoming calls
	Client                ferry.ClientInterceptor // wraps outgoing calls
	Limiter               *Limiter                // bounds running handlers; nil: unbounded
	WriteTimeout          time.Duration           // per flush, when the stream supports deadlines
	OnGoAway              func()                  // the peer announced shutdown
	// ConnContext returns the parent of the conn's handler contexts; New
	// calls it once with the conn it is creating, so that the context can
	// carry the conn (net/http's Server.ConnContext). Nil: Background.
	ConnContext func(*Channel) context.Context
	// Control handles reserved methods ($...) other than cancel, drained
	// and go-away: the requests other than a notification-only method's
	// (wire.NotificationOnly), answered with its reply or error, and the
	// notifications. Nil: requests get CodeUnimplemented.
	Control          func(method string, params []byte) (reply any, err error)
	UnauthMaxMessage int          // see Unauthenticated
	Logger           *slog.Logger // nil: silent
	// Budget is charged for the reader's buffer, the estimated decoded size of
	// every incoming call from its arrival until its reply is queued, and
	// queued replies until they are written. Nil: unbounded.
	Budget *transport.Budget
	// StallTimeout ends the conn when the peer holds part of a message
	// this long without sending more of it. Zero: never.
	StallTimeout time.Duration
	// OnMessage is called once, by the reader, after the first complete
	// message. Nil: nothing.
	OnMessage func()
	// OnRefused is called for every incoming call refused before a
	// handler ran (by the reader, or by the worker that took a call whose
	// deadline passed or whose caller canceled it while it waited), with
	// the registered method's name ("" when the name is not registered)
	// and the error sent. Nil: nothing.
	OnRefused func(method string, err *ferry.Error)
	// OnPark is called by the reader of a stream that can park when it
	// parks (true), nothing having arrived for a while, and when it starts
	// again (false). The two may reach it out of order around a park that
	// something interrupts at once: treat a true as a hint, and confirm
	// with QuietSince. Nil: nothing.
	OnPark func(parked bool)
	// OnDone is called once, when the conn ends (Done is closed), by the
	// goroutine that ended it, which may hold the conn's locks: it must
	// not block nor use the conn (start a goroutine to Close it). Nil:
	// nothing.
	OnDone func()
}

// Channel is one side of a MessagePack-RPC conversation over one byte
// stream (a session's call stream, or a bare connection): it calls and
// serves at once, with one reader goroutine and one batching writer.
type Channel struct {
	// invoker is c.invoke, bound once: interceptors get it on every call.
	invoker ferry.Invoker

	rwc  io.ReadWriteCloser
	opts Options
	rd   *wire.Reader
	dec  *msgpack.Decoder // used by the reader goroutine only
	// head is the request whose body the reader has yet to read while
	// serve handles it (direct.go), headArgs the arguments it goes into,
	// and headErr the error reading it; reader goroutine only.
	head     *wire.Head
	headArgs *[]byte
	headErr  error
	// lent is the call whose reply array a response body is being read
	// into (direct.go) when its context can end, and lentWhy why it ended
	// (under mu); lentStop asks the reader to stop reading into it.
	lent     *pending
	lentWhy  error
	lentStop atomic.Bool

	w writer

	mu      sync.Mutex
	calls   map[uint32]*pending // made by the first call, dropped when empty as the reader parks (nil after fail)
	nextID  uint32
	wrapped bool                // nextID has wrapped around: skip ids still in use
	goaway  bool                // the peer is going away: refuse new outgoing calls
	err     error               // set once the conn is broken or closed
	running map[uint32]*inbound // admitted requests that can be canceled, by msgid; made and dropped as calls

	werr     error         // a write failed; the reader fails the conn with it (under mu)
	nread    uint64        // requests read; reader goroutine only, then read after readDone
	started  atomic.Bool   // Start was called
	stopRead atomic.Bool   // the reader must stop before handling another message
	readDone chan struct{} // closed when the reader goroutine returns
	onFirst  func()        // OnMessage until the first message; reader only

	// The reader parks while the stream is idle (park.go).
	pk       parker       // rwc, if its reader can park; nil otherwise
	quiet    atomic.Bool  // no message since the idle timer last looked
	parkedAt atomic.Int64 // when the reader parked (Unix ns); 0 while it reads
	lastMsg  atomic.Int64 // a stream that cannot park: when its last message arrived (Unix ns)
	rdWait   atomic.Bool  // the reader waits in Next for a new message
	parking  atomic.Bool  // parkReq, for the reader to read without rdMu
	rdMu     sync.Mutex   // orders read deadlines; guards what follows
	idleT    *time.Timer  // the idle timer; nil while the reader is parked
	parkReq  bool         // the idle timer set a deadline to park the reader
	idleOff  bool         // the reader returned: the timer stays off

	draining atomic.Bool // we are going away: refuse new incoming calls (set under mu)
	// goawayQueued is made (under mu) by the drain that sends a Ferry
	// peer $ferry.goaway, and closed once it is queued; goawayTicket
	// (valid when goawayOK) is then what to wait for until it is written
	// (DrainWritten). Nil when no go-away is sent.
	goawayQueued chan struct{}
	goawayTicket flush.Ticket
	goawayOK     bool
	helloDue     bool          // Limits.Peer is settled once the first message is handled; reader only
	locked       atomic.Bool   // not yet authenticated
	identity     any           // set by Authenticate, under mu
	active       atomic.Int64  // handlers running; raised under mu (serve), lowered without it
	invoking     atomic.Int64  // of those, the ones whose handler has not returned (Invoking)
	waiting      atomic.Bool   // idle is set: the handler that brings active to 0 closes it
	idle         chan struct{} // closed when active drops to 0, if someone waits (under mu)
	baseCtx      context.Context
	cancel       context.CancelFunc
	asyncs       sync.WaitGroup // goroutines running client interceptors for Go
	wmu          sync.Mutex
	idleWk       []*worker      // idle workers, most recent last (under wmu)
	nWorkers     int            // handler goroutines, busy or idle (under wmu)
	wkStop       bool           // the conn ended: workers exit instead of idling (under wmu)
	workerIdle   time.Duration  // the reaper's period when not workerIdle (tests)
	reaper       *time.Timer    // retires workers idle for a whole period (under wmu)
	workers      sync.WaitGroup // handler goroutines, busy or idle
	loops        sync.WaitGroup
	closed       chan struct{}
	once         sync.Once
	closeMu      sync.Mutex  // orders concurrent CloseContexts
	drainedSent  atomic.Bool // $ferry.drained was queued (CloseContext, or endInput on the reader)
}

// New prepares a Conn over rwc; Start starts it and Close releases it.
func New(rwc io.ReadWriteCloser, opts Options) *Channel {
	if opts.Limits.MaxMessage == 0 {
		opts.Limits = wire.DefaultLimits
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Channel{
		rwc:      rwc,
		opts:     opts,
		rd:       wire.NewReader(rwc, opts.Limits),
		dec:      msgpack.NewDecoder(),
		closed:   make(chan struct{}),
		readDone: make(chan struct{}),
		onFirst:  opts.OnMessage,
		helloDue: !opts.Limits.Peer.Settled(),
	}
	c.pk, _ = rwc.(parker)
	if c.pk == nil {
		c.lastMsg.Store(time.Now().UnixNano())
	}
	base := context.Background()
	if opts.ConnContext != nil {
		base = opts.ConnContext(c)
	}
	c.baseCtx, c.cancel = context.WithCancel(base)
	c.invoker = c.invoke
	c.w.init(c)
	c.rd.SetDirect(directMin)
	// Interceptors see when a call's message was read (CallInfo.Received):
	// the reader notes it once per read, not once per message.
	c.rd.SetStamp(opts.Server != nil)
	if opts.Budget != nil {
		c.rd.SetAccount(opts.Budget)
	}
	if opts.StallTimeout > 0 {
		c.rd.SetStall(opts.StallTimeout, func() { c.fail(wire.ErrStalled, false) })
	}
	if opts.Unauthenticated {
		c.locked.Store(true)
		lim := opts.Limits
		lim.MaxMessage = min(lim.MaxMessage, max(opts.UnauthMaxMessage, 256))
		c.rd.SetLimits(lim)
	}
	return c
}

// Authenticate marks the channel authenticated: handlers from now on see identity in
// their context (ferry.IdentityFromContext), and the full message size
// applies. Call it from the reader goroutine (a Control handler) or before
// Start.
func (c *Channel) Authenticate(identity any) {
	c.mu.Lock()
	c.identity = identity
	c.mu.Unlock()
	c.rd.SetLimits(c.opts.Limits)
	c.locked.Store(false)
}

// Start starts the reader and writer goroutines. Handlers may run from
// then on.
func (c *Channel) Start() {
	c.started.Store(true)
	c.loops.Add(1)
	go c.readLoop()
}

// Done is closed once the conn is broken or closed.
func (c *Channel) Done() <-chan struct{} { return c.closed }

// Err returns why the conn ended, or nil while it is open.
func (c *Channel) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close is CloseContext with no bound on the wait for running handlers.
func (c *Channel) Close() error { return c.CloseContext(context.Background()) }

// CloseContext ends the conn. It fails outgoing calls with ferry.ErrClosed,
// stops reading, refuses as not executed the calls it read whose handlers
// have not started, cancels running handlers and waits for them until ctx
// ends. It then tells a Ferry peer how many of its requests it read
// ($ferry.drained, PROTOCOL.md section 4), so that the peer fails every
// later one as not executed, flushes what is queued (within a second: a
// write still blocked then is cut short), closes the stream and waits for
// the goroutines the conn started. Handlers still running when ctx ends are not waited for: their
// goroutines exit when they return, and their replies are dropped.
func (c *Channel) CloseContext(ctx context.Context) error {
	// Closes may run at once (the server closes an engine while the
	// engine's own goroutine does): the refusals of both are queued
	// before the count, and before either shuts the writer down.
	c.closeMu.Lock()
	c.fail(errClosedLocally, false)
	n, stopped := c.stopReading()
	c.refuseUnstarted()
	c.closeMu.Unlock()
	idle := c.WaitHandlers(ctx) == nil
	c.closeMu.Lock()
	if stopped && c.opts.FerryPeer && c.drainedSent.CompareAndSwap(false, true) {
		_ = c.w.notify(context.Background(), wire.MethodDrained, n, nil)
	}
	c.closeMu.Unlock()
	c.asyncs.Wait()
	c.w.shutdown()
	<-c.w.fw.Done()
	c.loops.Wait()
	if idle {
		c.workers.Wait()
	}
	return nil
}

// stopReading makes the reader goroutine return before it handles another
// message and waits for it. It returns how many requests the reader read,
// and false when the reader could not be stopped (the stream has no read
// deadline) or never started.
func (c *Channel) stopReading() (uint64, bool) {
	c.stopRead.Store(true)
	if !c.started.Load() {
		return 0, false
	}
	select {
	case <-c.readDone:
		return c.nread, true // a deadline now could cut a lingering close short
	default:
	}
	// On a multiplexed stream, closing our side is a half-close: the
	// reader would wait for the peer's. A read deadline wakes it.
	d, ok := c.rwc.(interface{ SetReadDeadline(time.Time) error })
	if ok && c.setReadDeadline(d, time.Now()) == nil {
		<-c.readDone
		return c.nread, true
	}
	select {
	case <-c.readDone:
		return c.nread, true
	default:
		return 0, false
	}
}

// errNotStarted answers a call that was read but whose handler had not
// started when the conn closed.
var errNotStarted = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the connection closed before the call started"))

// refuseUnstarted answers every admitted request whose handler has not
// started (queued behind the concurrency limit, or on its way to a worker)
// as not executed; its handler will not run.
func (c *Channel) refuseUnstarted() {
	c.mu.Lock()
	var refused []*inbound
	for id, in := range c.running {
		if in.state.CompareAndSwap(admitted, abandoned) {
			delete(c.running, id)
			refused = append(refused, in)
		}
	}
	c.mu.Unlock()
	for _, in := range refused {
		in.cancel()
		_ = c.w.response(in.id, nil, errNotStarted, in.ext)
	}
}

// peerDrained handles the peer's $ferry.drained: it read n of our
// requests and reads no more, so every later one, and every call not yet
// sent, fails as not executed, and no new call is sent.
func (c *Channel) peerDrained(n uint64) {
	c.w.stopRequests() // from here on no request gets a sequence number
	c.mu.Lock()
	c.goaway = true
	var unread []*pending
	for id, p := range c.calls {
		if p.seq == 0 || p.seq > n {
			delete(c.calls, id)
			unread = append(unread, p)
		}
	}
	c.mu.Unlock()
	err := ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the peer closed the connection before it read the call"))
	for _, p := range unread {
		p.finish(err)
	}
	if c.opts.OnGoAway != nil {
		c.opts.OnGoAway()
	}
}

// Abort ends the conn with err as the reason outgoing calls see, then
// releases it like Close.
func (c *Channel) Abort(err error) error {
	c.fail(err, false)
	return c.Close()
}

var errClosedLocally = ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the connection was closed by this side")

// fail records the first error, fails every outgoing call and cancels
// handlers. It does not wait. A graceful failure lets the writer flush
// what is queued before the stream closes. No request is queued after
// it: a call whose request was still waiting for room in the write queue
// is never sent, and fails flagged not executed; so does, when the stream
// is broken (not graceful, not Close), one whose request was queued
// behind the last write that began, which is dropped. The others may have
// executed.
func (c *Channel) fail(err error, graceful bool) {
	c.once.Do(func() {
		c.w.stopRequests()              // from here on every call's seq stays as it is
		begun := uint64(math.MaxUint64) // every queued request may be written
		if !graceful && err != errClosedLocally {
			begun = c.w.fw.Stop(err) // nothing is written from here on
		}
		c.mu.Lock()
		c.err = err
		calls := c.calls
		c.calls = nil
		c.mu.Unlock()
		ferr := callError(err)
		var unsent error
		for _, p := range calls {
			if p.seq == 0 || p.batch > begun { // its request was never written
				if unsent == nil {
					unsent = notSent(err)
				}
				p.finish(unsent)
				continue
			}
			p.finish(ferr)
		}
		c.cancel()
		close(c.closed)
		c.opts.Limits.Peer.Settle() // no hello is coming on this conn: its waiting calls fail now
		c.stopWorkers()
		if err != errClosedLocally {
			if !graceful {
				// The stream is broken: unblock the writer and reader now.
				c.rwc.Close()
			}
			c.w.shutdown()
		}
		if errors.Is(err, wire.ErrBudget) || errors.Is(err, wire.ErrStalled) || errors.Is(err, transport.ErrMemoryBudget) {
			c.opts.Logger.Warn("ferry: connection ended", "err", err)
		} else {
			c.opts.Logger.Debug("ferry: connection ended", "err", err)
		}
		if c.opts.OnDone != nil {
			c.opts.OnDone()
		}
	})
}

// writeFailed handles a failed write. Nothing more can be sent, but what
// the peer sent before, replies and a $ferry.drained among them, may still
// wait in the read buffers: the reader handles all of it, then fails the
// conn with err when the read deadline, set to now, stops it.
func (c *Channel) writeFailed(err error) {
	d, ok := c.rwc.(interface{ SetReadDeadline(time.Time) error })
	if !ok || !c.started.Load() {
		c.fail(err, false)
		return
	}
	c.mu.Lock()
	if c.werr == nil {
		c.werr = err
	}
	c.mu.Unlock()
	if c.setReadDeadline(d, time.Now()) != nil {
		c.fail(err, false)
	}
}

// callError is what outgoing calls see when the conn ends under them.
func callError(err error) error { return status.Lost(err) }

// Drain stops serving new incoming calls (they are refused as not
// executed) and, for a Ferry peer, tells it to send no more.
func (c *Channel) Drain() {
	if c.startDrain() {
		c.queueGoAway()
	}
}

// DrainWritten is Drain, and then waits, until ctx ends, for a Ferry
// peer's $ferry.goaway to leave the writer (written, or failed), whoever
// started the drain: what the caller then sends on the session
// underneath, such as yamux's go-away and ping, follows it on the wire
// (PROTOCOL.md section 4, "Going away", step 1).
func (c *Channel) DrainWritten(ctx context.Context) {
	if c.startDrain() {
		c.queueGoAway()
	}
	c.mu.Lock()
	queued := c.goawayQueued
	c.mu.Unlock()
	if queued == nil {
		return // no go-away is sent: not a Ferry peer, or it stopped sending first
	}
	select {
	case <-queued:
	case <-ctx.Done():
		return
	}
	if c.goawayOK {
		c.w.fw.Wait(ctx, c.goawayTicket)
	}
}

// queueGoAway queues $ferry.goaway, once, and publishes the ticket to
// wait for it (goawayQueued).
func (c *Channel) queueGoAway() {
	t, err := c.w.notifyTicket(wire.MethodGoAway)
	c.goawayTicket, c.goawayOK = t, err == nil
	close(c.goawayQueued)
}

// startDrain marks the channel draining and reports whether a go-away is
// to be sent: the first time, to a Ferry peer.
func (c *Channel) startDrain() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	send := !c.draining.Swap(true) && c.opts.FerryPeer
	if send {
		c.goawayQueued = make(chan struct{})
	}
	return send
}

// Running reports how many handlers this conn is running.
func (c *Channel) Running() int { return int(c.active.Load()) }

// Invoking reports how many calls this conn admitted whose handler has not
// returned: running, or waiting to start. Unlike Running, it no longer
// counts a call whose handler returned and whose reply is being queued,
// which its caller may have received already.
func (c *Channel) Invoking() int { return int(c.invoking.Load()) }

// WaitHandlers blocks until no handler runs or ctx ends. Call it after
// Drain or Close, or new handlers may start at any time.
func (c *Channel) WaitHandlers(ctx context.Context) error {
	c.mu.Lock()
	// Raised before active is read: a handler that ends after the read
	// sees it and closes idle (handlerDone).
	c.waiting.Store(true)
	if c.active.Load() == 0 {
		if c.idle == nil {
			c.waiting.Store(false)
		}
		c.mu.Unlock()
		return nil
	}
	if c.idle == nil {
		c.idle = make(chan struct{})
	}
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// handlerDone counts a handler out. It takes the lock only when it ends
// the last handler while WaitHandlers waits.
func (c *Channel) handlerDone() {
	if c.active.Add(-1) != 0 || !c.waiting.Load() {
		return
	}
	c.mu.Lock()
	if c.idle != nil && c.active.Load() == 0 {
		close(c.idle)
		c.idle = nil
		c.waiting.Store(false)
	}
	c.mu.Unlock()
}

// halfCloseGrace is how long handlers may keep running, and be answered,
// after the peer stopped sending.
const halfCloseGrace = 10 * time.Second

// endInput handles the peer's end of sending (EOF at a message boundary):
// replies to our own calls can no longer come, but the peer may still read
// replies to its calls, so running handlers finish (within
// halfCloseGrace) and their replies are flushed before the stream closes.
func (c *Channel) endInput() {
	c.mu.Lock()
	c.draining.Store(true)
	c.goaway = true
	calls := c.calls
	c.calls = map[uint32]*pending{}
	c.mu.Unlock()
	lost := ferry.NewError(ferry.CodeUnavailable, "the peer closed the connection: the call may or may not have executed")
	for _, p := range calls {
		p.finish(lost)
	}
	grace := time.AfterFunc(halfCloseGrace, c.cancel)
	defer grace.Stop()
	select {
	case <-c.closed:
	default:
		ctx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(c.baseCtx, cancel)
		_ = c.WaitHandlers(ctx)
		stop()
		cancel()
	}
	// A call still waiting for a handler (the wait ended early: a Close,
	// or the grace passed) is answered, not executed, before the count.
	c.refuseUnstarted()
	// The stream is intact: a Ferry peer learns how many of its requests
	// were read, after their answers (PROTOCOL.md 4). This runs on the
	// reader goroutine, which counts them; it must not take closeMu, which
	// a Close holds while it waits for the reader to return. A later Close
	// finds the count sent.
	if c.opts.FerryPeer && c.drainedSent.CompareAndSwap(false, true) {
		_ = c.w.notify(context.Background(), wire.MethodDrained, c.nread, nil)
	}
	c.fail(errors.New("the peer closed the connection"), true)
}

// Limits returns the message limits a transport configuration sets: the
// one conversion from transport.Config to wire.Limits, for the client and
// the server, unary calls and streams alike.
func Limits(cfg transport.Config) wire.Limits {
	return wire.Limits{MaxMessage: cfg.MaxMessageSize, MaxDepth: cfg.MaxDepth}
}
