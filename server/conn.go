package server

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// netConn is one accepted connection: a yamux session with one engine per
// stream, or a single engine on bare MessagePack-RPC.
type netConn struct {
	s      *Server
	nc     net.Conn
	raw    net.Conn // the accepted connection, under TLS if any
	budget *transport.Budget
	proven atomic.Bool // it sent a complete message
	// quietHint is when a call stream's reader last parked (Unix ns), 0
	// since one read again; bare is the engine of a bare connection, whose
	// QuietHint stands in. A hint of which connection may be quiet,
	// confirmed by quiet; until quiet refused it, it is not used again
	// before busyUntil (Unix ns).
	quietHint atomic.Int64
	bare      atomic.Pointer[engine.Channel]
	busyUntil atomic.Int64
	// streamCalls counts the streaming calls whose handler runs
	// (ConnInfo.StreamingCalls).
	streamCalls atomic.Int32
	evicted     bool // closed to make room; under s.mu
	ip          string
	peers       map[*netConn]struct{} // the connections open from ip (Server.perIP), under s.mu
	limiter     *engine.Limiter
	done        chan struct{}

	ctx    context.Context // parent of every handler context; canceled at close
	cancel context.CancelFunc
	since  time.Time

	mu             sync.Mutex
	proto          string
	tlsState       *tls.ConnectionState
	authed         bool // authenticated, or no authentication configured
	authFailures   int  // AuthFunc runs that did not succeed (or are running)
	identity       any
	nstreams       int
	sess           *transport.Session
	engines        map[*engine.Channel]struct{}
	firstPeer      *Peer
	streamCancels  stream.Cancels
	opener         *stream.Dialer // the streams the server opens to the client (peerstream.go)
	opened         sync.WaitGroup // closes of those streams, abandoned
	draining       bool
	closed         bool
	streams        sync.WaitGroup // goroutines per stream and hook
	streamHandlers sync.WaitGroup // running streaming handlers

	// Session streams accepted but not yet serving nor refused (settle):
	// unsettled counts them from Accept on, settling holds those whose
	// goroutine started. Under mu.
	unsettled int
	settling  map[net.Conn]time.Time // each one's setup read deadline (setup.go); zero once it is read no more
	setupCut  bool                   // drained: setups are waited for no more (cutSetup)
	settled   chan struct{}          // closed when unsettled drops to 0, if someone waits
	drained   chan struct{}          // closed when drain returns
	// The Accept loop runs only while streams arrive (opened): opens
	// counts the streams the client opened and no loop took yet,
	// accepting is set while a loop runs. A graceful close pauses it for
	// good (acceptPaused; drainBacklog takes the last streams); once the
	// session ended, acceptEnded: no stream goroutine may start
	// (streams.Wait follows). Under mu.
	opens        int
	accepting    bool
	acceptPaused bool
	acceptEnded  bool
	pauseAccept  context.CancelFunc // ends a running loop's Accept (drainBacklog)
	acceptCtx    context.Context    // the loops' Accept context
	acceptLoops  sync.WaitGroup

	// Set (under mu) when the client said in its hello that it answers
	// $ferry.goaway with $ferry.settled; closed when it does.
	peerSettled chan struct{}
	settleOnce  sync.Once
}

// serve serves the connection. A session outlives it: its end finishes
// the connection (endSession), and no goroutine waits for that while it
// is idle.
func (c *netConn) serve() {
	if !c.serveConn() {
		c.release()
	}
}

// release releases the connection once it has ended.
func (c *netConn) release() {
	c.cancel()
	c.budget.Close()
	c.s.forget(c)
	close(c.done)
	c.s.wg.Done()
}

// serveConn serves a bare connection, or sets up a session and returns
// true (endSession then finishes the connection).
func (c *netConn) serveConn() (session bool) {
	deadline := time.Now().Add(c.s.opts.cfg.SniffTimeout)
	if c.s.opts.tls != nil && !c.handshakeTLS(deadline) {
		return false
	}
	proto, pc, err := transport.Sniff(c.nc, time.Until(deadline))
	if err != nil {
		c.s.opts.logger.Debug("ferry: connection rejected", "remote", c.nc.RemoteAddr(), "err", err)
		c.nc.Close()
		return false
	}
	c.mu.Lock()
	c.proto = proto.String()
	c.authed = c.s.opts.auth == nil
	c.mu.Unlock()
	if proto == transport.ProtocolMsgpackRPC {
		if c.s.opts.auth != nil {
			// A bare client is judged by its TLS identity now; it may
			// still send a hello with a token.
			_, _ = c.authenticate("")
		}
		c.serveBare(pc)
		return false
	}
	return c.serveSession(pc, deadline)
}

// handshakeTLS runs the server's side of the TLS handshake by deadline.
// On failure it closes the connection, keeping the alert that explains
// why (lingeringClose).
func (c *netConn) handshakeTLS(deadline time.Time) bool {
	tc := tls.Server(c.nc, c.s.opts.tls)
	hctx, cancel := context.WithDeadline(c.ctx, deadline)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		c.s.opts.logger.Warn("ferry: TLS handshake failed", "remote", c.nc.RemoteAddr(), "err", err)
		lingeringClose(c.nc)
		return false
	}
	st := tc.ConnectionState()
	c.mu.Lock()
	c.nc, c.tlsState = tc, &st
	c.mu.Unlock()
	return true
}

// serveBare serves a bare MessagePack-RPC connection: one engine over the
// whole connection.
func (c *netConn) serveBare(pc net.Conn) {
	if e, p := c.add(&lingerConn{Conn: pc, c: c}, false, nil); e != nil {
		c.bare.Store(e)
		c.run(e, p)
	}
	c.streams.Wait()
	c.nc.Close()
}

// serveSession sets up a yamux session and returns true, or false when it
// fails. The session accepts streams, with a loop that runs only while
// they arrive, until it ends; it is closed when the client sends no
// complete message, or no authenticated hello, by deadline.
func (c *netConn) serveSession(pc net.Conn, deadline time.Time) bool {
	sess, err := transport.ServerWithBudget(&lingerConn{Conn: pc, c: c}, c.s.opts.cfg, c.budget)
	if err != nil {
		c.nc.Close()
		return false
	}
	actx, pause := context.WithCancel(context.Background())
	c.mu.Lock()
	c.sess = sess
	c.acceptCtx, c.pauseAccept = actx, pause
	closed := c.closed
	c.mu.Unlock()
	if closed {
		sess.Close()
	}
	stop := c.watchHello(sess, deadline)
	sess.OnOpen(c.streamOpened)
	sess.OnEnd(func() { go c.endSession(sess, stop) })
	return true
}

// endSession releases a session that ended, then the connection.
func (c *netConn) endSession(sess *transport.Session, stopWatch func()) {
	<-sess.Done() // OnEnd may come first
	stopWatch()
	c.mu.Lock()
	c.acceptPaused = true // no Accept loop starts from now on
	c.mu.Unlock()
	c.pauseAccept()
	c.acceptLoops.Wait()
	c.mu.Lock()
	c.acceptEnded = true // no stream goroutine starts from now on
	c.mu.Unlock()
	// The session is gone: calls through kept Peers fail as unavailable.
	for _, e := range c.snapshot() {
		e.Abort(ferry.NewError(ferry.CodeUnavailable, "the client's connection ended"))
	}
	c.cancel() // ends streaming handlers of the vanished connection
	c.streams.Wait()
	sess.Close()
	c.opened.Wait() // closes of streams the server opened to the client
	c.release()
}

// watchHello closes sess if the client has sent no complete message by
// deadline, or, with authentication, no authenticated hello: a Ferry
// client opens its first stream and says hello at once. It returns the
// function that stops watching.
func (c *netConn) watchHello(sess *transport.Session, deadline time.Time) (stop func()) {
	idle := time.AfterFunc(time.Until(deadline), func() {
		if !c.proven.Load() {
			c.s.opts.logger.Warn("ferry: no complete message in time", "remote", c.nc.RemoteAddr())
			sess.Close()
		}
	})
	if c.s.opts.auth == nil {
		return func() { idle.Stop() }
	}
	auth := time.AfterFunc(time.Until(deadline), func() {
		if !c.isAuthenticated() {
			c.s.opts.logger.Warn("ferry: no authenticated hello in time", "remote", c.nc.RemoteAddr())
			sess.Close()
		}
	})
	return func() { idle.Stop(); auth.Stop() }
}

// streamOpened starts the Accept loop, unless it runs, for a stream the client
// opened (transport.Session.OnOpen): an idle session parks no goroutine
// waiting for streams. It runs in the session's receive loop.
func (c *netConn) streamOpened() {
	c.mu.Lock()
	c.opens++
	start := !c.accepting && !c.acceptPaused && !c.acceptEnded
	if start {
		c.accepting = true
		c.acceptLoops.Add(1)
	}
	sess, actx := c.sess, c.acceptCtx
	c.mu.Unlock()
	if start {
		go c.acceptStreams(sess, actx)
	}
}

// acceptStreams serves the session's streams, each in a goroutine of its
// own, until none is left to take, the session ends or a graceful close
// pauses it (drainBacklog then takes the last ones).
func (c *netConn) acceptStreams(sess *transport.Session, actx context.Context) {
	defer c.acceptLoops.Done()
	for {
		st, err := sess.AcceptContext(actx)
		if err != nil {
			c.mu.Lock()
			c.accepting = false
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		c.opens--
		idle := c.opens <= 0
		if idle {
			c.accepting = false
		}
		c.mu.Unlock()
		c.serveAccepted(st) // counted in before the loop can stop
		if idle {
			return
		}
	}
}

// prove marks the connection as one that sent a complete message: it is no
// longer the first to be closed when the connection limit is reached.
func (c *netConn) prove() { c.proven.Store(true) }

// closeRaw closes the accepted connection at once; serve then ends.
func (c *netConn) closeRaw() { c.raw.Close() }

// serveSessionStream tells a streaming call's stream from a
// MessagePack-RPC call stream by its first byte, and serves it. A call
// stream's engine outlives the call: serveSessionStream returns true when
// it started one, which then releases the stream (ended).
func (c *netConn) serveSessionStream(st net.Conn) (handedOff bool) {
	c.settle(st, true)
	defer c.settle(st, false)
	// The goroutine waiting for the stream's first bytes (up to
	// SniffTimeout, and a streaming call's opening request) holds a few
	// KiB: charged until then, so that sessions opening streams that send
	// nothing are bounded by the memory budget, not only by MaxStreams
	// each. A call stream's reader, and a streaming call's handler, are
	// charged from then on.
	if !c.budget.Charge(streamSetupCost) {
		st.Close()
		return false
	}
	charged := true
	setUp := func() {
		if charged {
			charged = false
			c.budget.Release(streamSetupCost)
		}
	}
	defer setUp()
	c.armSetup(st)
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil {
		if c.setupWasCut(err) {
			sc := stream.New(st, engine.Limits(c.s.opts.cfg))
			_ = sc.SendStatus(nil, errDrainedSetup)
			sc.Close()
		}
		st.Close()
		return false
	}
	if b[0] == wire.StreamMarker {
		c.serveStream(st, setUp) // settled when its handler starts (beginStream) or it returns
		return false
	}
	c.endSetup(st)
	setUp()
	c.streams.Add(1) // the engine's, until ended
	e, p := c.add(transport.Prepend(st, b[0]), true, func(e *engine.Channel, p *Peer) { go c.ended(e, p) })
	c.settle(st, false) // the engine answers every request it reads, even draining
	if e == nil {
		c.streams.Done()
		return false
	}
	c.connected(p)
	return true
}

// streamSetupCost is charged to the connection's memory budget while a
// session stream is being set up: its goroutine's stack and the reads
// waiting in it (measured: 4–7 KiB a stream that sends nothing).
const streamSetupCost = 8 << 10

// ended releases a session call stream whose engine ended: no goroutine
// waits for that while the stream is idle (the engine's reader serves it).
func (c *netConn) ended(e *engine.Channel, p *Peer) {
	defer c.streams.Done()
	defer c.closeStream()
	c.finish(e, p)
}

// settle tracks a session stream while it is being set up: not yet a call
// stream, nor a streaming call with a handler, nor refused with its status
// flushed. openStream counts it in at Accept; settle(st, true) marks it as
// its goroutine's, and the first settle(st, false) counts it out. A
// graceful close waits for none to be left (waitIdle), so that no stream
// accepted before the go-away is cut without an answer.
func (c *netConn) settle(st net.Conn, in bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if in {
		if c.settling == nil {
			c.settling = map[net.Conn]time.Time{}
		}
		c.settling[st] = c.setupDeadline()
		return
	}
	if _, ok := c.settling[st]; !ok {
		return
	}
	delete(c.settling, st)
	if len(c.settling) == 0 {
		c.settling = nil // a map keeps its slots: an idle conn keeps none
	}
	if c.unsettled--; c.unsettled == 0 && c.settled != nil {
		close(c.settled)
		c.settled = nil
	}
}

// serveAccepted serves a stream the session accepted (the Accept loop, or
// a graceful close taking the last ones from the backlog) in a goroutine
// of its own.
func (c *netConn) serveAccepted(st net.Conn) {
	if !c.openStream() {
		st.Close() // past MaxStreams
		return
	}
	go func() {
		defer c.streams.Done()
		if !c.serveSessionStream(st) {
			c.closeStream()
		} // else its engine serves it on, and ended releases it
	}()
}

// openStream counts a session stream and its goroutine in, unless
// MaxStreams are open or the session ended.
func (c *netConn) openStream() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nstreams >= c.s.opts.cfg.MaxStreams || c.acceptEnded {
		return false
	}
	c.nstreams++
	c.unsettled++ // until settle: counted from Accept, before its goroutine runs
	c.streams.Add(1)
	return true
}

// drainBacklog serves the streams the session accepted before its go-away
// reached the client but the Accept loop has not taken yet, so that a
// graceful close answers them too. yamux picks at random between a waiting
// stream and an ended ctx: 64 misses in a row mean the backlog is empty
// (or one in 2^64).
func (c *netConn) drainBacklog() {
	c.mu.Lock()
	sess, pause := c.sess, c.pauseAccept
	c.acceptPaused = true // no Accept loop starts from now on
	c.mu.Unlock()
	if sess == nil || pause == nil {
		return
	}
	// First the Accept loop stops: a stream it took it also counts in
	// (serveAccepted) before it stops.
	pause()
	c.acceptLoops.Wait()
	select {
	case <-sess.Done():
		return
	default:
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	misses := 0
	for range 4096 {
		st, err := sess.AcceptContext(ended)
		switch {
		case err == context.Canceled:
			if misses++; misses == 64 {
				return
			}
			continue
		case err != nil:
			return // the session ended
		}
		misses = 0
		c.serveAccepted(st)
	}
}

func (c *netConn) closeStream() {
	c.mu.Lock()
	c.nstreams--
	c.mu.Unlock()
}

// beginStream counts a streaming handler in, unless the connection is
// going away.
func (c *netConn) beginStream(st net.Conn) bool {
	c.mu.Lock()
	if c.draining || c.closed {
		c.mu.Unlock()
		return false
	}
	c.streamHandlers.Add(1)
	c.mu.Unlock()
	c.settle(st, false) // streamHandlers holds the close from here on
	return true
}

// streamContext is the parent context of a streaming call's handler.
func (c *netConn) streamContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx := c.ctx
	if c.identity != nil {
		ctx = ferry.WithIdentity(ctx, c.identity)
	}
	if c.firstPeer != nil {
		ctx = context.WithValue(ctx, peerKey{}, c.firstPeer)
	}
	return ctx
}

// run calls the connection hooks around an engine's life and releases it.
func (c *netConn) run(e *engine.Channel, p *Peer) {
	c.connected(p)
	<-e.Done()
	c.finish(e, p)
}

// connected runs the connect hook, in a goroutine of its own.
func (c *netConn) connected(p *Peer) {
	if fn := c.s.opts.onConnect; fn != nil {
		c.streams.Add(1)
		go func() {
			defer c.streams.Done()
			fn(p)
		}()
	}
}

// finish releases an engine that ended and runs the disconnect hook.
func (c *netConn) finish(e *engine.Channel, p *Peer) {
	e.Close()
	c.remove(e)
	if fn := c.s.opts.onDisconnect; fn != nil {
		fn(p)
	}
}

// add starts an engine on a stream unless the connection is closing;
// onDone, if not nil, is called when the engine ends (engine.Options.OnDone).
func (c *netConn) add(rwc net.Conn, ferryPeer bool, onDone func(*engine.Channel, *Peer)) (*engine.Channel, *Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		rwc.Close()
		return nil, nil
	}
	var p *Peer
	eo := c.s.engineOptions(c, ferryPeer)
	eo.ConnContext = func(e *engine.Channel) context.Context {
		p = &Peer{eng: e, id: peerIDs.Add(1), remote: c.nc.RemoteAddr(), conn: c}
		return context.WithValue(c.ctx, peerKey{}, p)
	}
	eo.Unauthenticated = !c.authed
	eo.OnPark = c.parked
	var e *engine.Channel
	if onDone != nil {
		eo.OnDone = func() { onDone(e, p) } // after Start, below
	}
	e = engine.New(rwc, eo)
	if c.authed && c.identity != nil {
		e.Authenticate(c.identity)
	}
	if c.firstPeer == nil {
		c.firstPeer = p
	}
	if c.draining {
		e.Drain()
	}
	c.engines[e] = struct{}{}
	e.Start()
	return e, p
}

// parked records that a call stream's reader parked or started again
// (engine.Options.OnPark).
func (c *netConn) parked(yes bool) {
	if yes {
		c.quietHint.Store(time.Now().UnixNano())
	} else {
		c.quietHint.Store(0)
	}
}

// hint returns when the connection may have become quiet (Unix ns), or 0
// when it is not (see quietHint), now being the time in Unix ns; cheap.
func (c *netConn) hint(now int64) int64 {
	if now < c.busyUntil.Load() {
		return 0 // quiet refused it a moment ago
	}
	if e := c.bare.Load(); e != nil {
		return e.QuietHint()
	}
	return c.quietHint.Load()
}

// quietSince reports whether the connection has nothing in progress, and
// since when: every call stream quiet (engine.Channel.QuietSince) and, on
// a session, no stream open but those (no streaming call either way,
// none being set up); not closing.
func (c *netConn) quietSince() (since time.Time, ok bool) {
	c.mu.Lock()
	sess, n := c.sess, len(c.engines)
	ok = n > 0 && !c.closed && !c.draining && (sess == nil || c.unsettled == 0 && c.opens <= 0 && c.nstreams == n)
	for e := range c.engines {
		if !ok {
			break
		}
		var t time.Time
		t, ok = e.QuietSince()
		if t.After(since) {
			since = t
		}
	}
	c.mu.Unlock()
	// Outside c.mu: the session counts the streams it holds, those this
	// side opened and those not accepted yet among them.
	if ok && sess != nil {
		ok = sess.NumStreams() == n
	}
	if !ok {
		return time.Time{}, false
	}
	return since, true
}

// busyPause is how long a connection that quiet refused is not looked at
// closely again: a connection busy behind a quiet hint (a long call, a
// stream) costs a check per new connection at a bound at most once per
// pause, and becomes a candidate again after it.
const busyPause = time.Second

// quiet is quietSince for a connection chosen by its hint: when it is not
// quiet, it is passed over for busyPause.
func (c *netConn) quiet(now int64) bool {
	_, ok := c.quietSince()
	if !ok {
		c.busyUntil.Store(now + int64(busyPause))
	}
	return ok
}

// evictGrace bounds how long closing a quiet connection to make room
// waits for the client to acknowledge the go-away, and then to flush.
const evictGrace = 250 * time.Millisecond

// evict closes a quiet connection to make room at a connection bound. A
// go-away goes first, so that a call the client was sending just then is
// refused as not executed (and later ones fail at the client as not
// executed) rather than lost with the connection: the connection closes
// once the client has answered a ping sent after the go-away (every call
// it sent before it has then arrived, and been refused), or after
// evictGrace.
func (c *netConn) evict() {
	c.mu.Lock()
	c.draining = true
	sess := c.sess
	c.mu.Unlock()
	c.drainEngines(evictGrace)
	if sess != nil && sess.GoAway() == nil {
		pong := make(chan struct{})
		go func() { // returns when the session closes, at the latest
			_ = sess.Ping()
			close(pong)
		}()
		t := time.NewTimer(evictGrace)
		select {
		case <-pong:
		case <-t.C:
		}
		t.Stop()
	}
	c.close(time.Now().Add(evictGrace))
}

func (c *netConn) remove(e *engine.Channel) {
	c.mu.Lock()
	delete(c.engines, e)
	c.mu.Unlock()
}

func (c *netConn) snapshot() []*engine.Channel {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*engine.Channel, 0, len(c.engines))
	for e := range c.engines {
		out = append(out, e)
	}
	return out
}

// drain tells the client to send no more calls: a go-away on each call
// stream and on the session. It returns once the client has seen the
// session's go-away (a ping answered after it) and, from a client that
// promised it in its hello, once its $ferry.settled arrived (within the
// write timeout), so that every stream the client opened before then has
// reached the server: accepted, or reset by yamux as refused. Then the
// streams still being set up are refused (cutSetup).
func (c *netConn) drain() {
	c.mu.Lock()
	c.draining = true
	sess := c.sess
	done := c.drainDone()
	c.mu.Unlock()
	defer close(done)
	defer c.cutSetup() // the client has seen the go-away: a partial opening is no call
	c.drainEngines(c.s.opts.cfg.WriteTimeout)
	if sess == nil || sess.GoAway() != nil {
		return
	}
	_ = sess.Ping()
	c.mu.Lock()
	settled := c.peerSettled
	c.mu.Unlock()
	if settled == nil {
		return
	}
	// The ping's answer does not cover a stream the client was opening
	// when the go-away arrived: its opening frame may follow the answer.
	// $ferry.settled follows every such frame.
	t := time.NewTimer(c.s.opts.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case <-settled:
	case <-sess.Done():
	case <-t.C:
	}
}

// drainEngines sends $ferry.goaway on every call stream and waits, for at
// most d in all, until each has been written: the session's go-away and
// ping, sent next, follow them on the wire (PROTOCOL.md 4, "Going away",
// step 1).
func (c *netConn) drainEngines(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for _, e := range c.snapshot() {
		e.DrainWritten(ctx)
	}
}

// drainDone returns the channel drain closes when it returns; mu is held.
func (c *netConn) drainDone() chan struct{} {
	if c.drained == nil {
		c.drained = make(chan struct{})
	}
	return c.drained
}

// waitIdle waits, until ctx ends, for drain to return and then for the
// connection to be idle: no session stream being set up, no handler
// running. Streams accepted
// meanwhile (before the go-away reached the client) are waited for too.
func (c *netConn) waitIdle(ctx context.Context) error {
	c.mu.Lock()
	drained := c.drainDone()
	c.mu.Unlock()
	select {
	case <-drained:
	case <-ctx.Done():
		return ctx.Err()
	}
	for range 1000 {
		c.drainBacklog()
		if err := c.waitSettled(ctx); err != nil {
			return err
		}
		for _, e := range c.snapshot() {
			if err := e.WaitHandlers(ctx); err != nil {
				return err
			}
		}
		done := make(chan struct{})
		go func() { c.streamHandlers.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
		c.mu.Lock()
		idle := c.unsettled == 0
		c.mu.Unlock()
		if idle {
			return nil
		}
	}
	return nil
}

// waitSettled waits until no session stream is being set up, or ctx ends.
func (c *netConn) waitSettled(ctx context.Context) error {
	c.mu.Lock()
	if c.unsettled == 0 {
		c.mu.Unlock()
		return nil
	}
	if c.settled == nil {
		c.settled = make(chan struct{})
	}
	settled := c.settled
	c.mu.Unlock()
	select {
	case <-settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close ends every engine (answering what they read, flushing their last
// responses and go-away counts) and the connection, by end; serve then
// returns. Handlers still running at half the time left are abandoned.
func (c *netConn) close(end time.Time) {
	c.mu.Lock()
	c.closed = true
	sess, nc := c.sess, c.nc // c.nc changes under mu after a TLS handshake
	c.mu.Unlock()
	// Engines flush their last replies, but a peer that stopped reading
	// must not hold Close for WriteTimeout: end the transport at end.
	grace := time.AfterFunc(time.Until(end), func() {
		nc.Close() // first: it unblocks a write stuck under the session
		if sess != nil {
			sess.Close()
		}
	})
	defer grace.Stop()
	c.cancel() // every handler, unary and streaming, sees its context end
	hctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(time.Until(end)/2))
	c.closeEngines(hctx)
	cancel()
	if sess != nil {
		sess.Close()
	}
	nc.Close()
}

// closeGrace bounds how long closing a connection waits for its last
// writes.
const closeGrace = time.Second

// closeEngines closes every engine, waiting for their handlers until ctx
// ends.
func (c *netConn) closeEngines(ctx context.Context) {
	for _, e := range c.snapshot() {
		_ = e.CloseContext(ctx)
	}
}

func (s *Server) forget(c *netConn) {
	s.mu.Lock()
	delete(s.conns, c)
	if delete(c.peers, c); len(c.peers) == 0 {
		delete(s.perIP, c.ip)
	}
	s.mu.Unlock()
}

// lingerConn is an accepted connection (bare MessagePack-RPC, or under a
// session) whose Close does not destroy the last replies: closing a TCP
// connection with unread input (requests the peer sent after the engine
// stopped reading, frames the session had not read yet) resets it, and
// the peer loses what it had not read yet. Close half-closes instead, so
// the peer reads every reply and then sees the end, and discards the
// peer's last input for a moment: until the peer closes too, for at most
// lingerTime and lingerBytes. Only a server that is shutting down
// lingers; a connection that failed closes at once.
type lingerConn struct {
	net.Conn
	c    *netConn
	once sync.Once
}

func (l *lingerConn) Close() error {
	l.once.Do(func() {
		l.c.mu.Lock()
		nc := l.c.nc
		graceful := l.c.draining || l.c.closed
		l.c.mu.Unlock()
		if !graceful {
			// The connection failed (a protocol error, a broken budget, a
			// stall): nobody waits for replies, and a hostile peer must
			// not make the server read megabytes on its way out.
			nc.Close()
			return
		}
		if cw, ok := nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = nc.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, nc, lingerBytes)
		nc.Close()
	})
	return nil
}

// How long, and how much input, a closing connection discards while its
// peer reads the last replies (a close with a deadline cuts it shorter).
const (
	lingerTime  = 250 * time.Millisecond
	lingerBytes = 4 << 20
)

// lingeringClose closes a connection whose peer may still be sending
// (after a refused TLS handshake): closing with unread data would reset
// the connection and destroy the alert that explains the refusal, so it
// half-closes, reads briefly, then closes.
func lingeringClose(nc net.Conn) {
	if tc, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = tc.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(250 * time.Millisecond))
	_, _ = io.CopyN(io.Discard, nc, 64<<10)
	nc.Close()
}
