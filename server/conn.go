package server

import (
	"context"
	"crypto/tls"
	"github.com/ferryrpc/ferry/internal/bgroup"
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

// limits returns the connection's message limits: the server's own, and
// the client's, once its hello told it (wire.Limits.Peer).
func (c *netConn) limits() wire.Limits {
	lim := engine.Limits(c.s.opts.cfg)
	lim.Peer = &c.peerMax
	return lim
}

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
	// (ConnInfo.StreamingCalls), until their streams are released;
	// streamInvoking those whose handler has not returned (handling).
	streamCalls    atomic.Int32
	streamInvoking atomic.Int32
	evicted        bool // closed to make room; under s.mu
	ip             string
	peers          map[*netConn]struct{} // the connections open from ip (Server.perIP), under s.mu
	limiter        *engine.Limiter
	done           chan struct{}
	// peerMax is the client's message limit, which its hello tells: no
	// stream of the connection sends past it (PROTOCOL.md section 4).
	peerMax wire.PeerMax

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
	refusing       int // streams past MaxStreams being answered (refusePastMax)
	sess           *transport.Session
	engines        map[*engine.Channel]struct{}
	callStreams    int // session call streams set up so far (callStreamCost)
	firstPeer      *Peer
	streamCancels  stream.Cancels
	opener         *stream.Dialer // the streams the server opens to the client (peerstream.go)
	opened         bgroup.Group   // closes of those streams, abandoned
	draining       bool
	drainStarted   bool // drain ran: it closes drained, once
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
	c.peerMax.Settle() // a bare client says no hello first: calls to it do not wait for one
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
	// The session is gone: calls through kept Peers fail as unavailable,
	// saying why (Peer.Err: the peer's close, the budget, a write timeout).
	gone := ferry.NewError(ferry.CodeUnavailable, "the client's connection ended")
	if cause := sess.Cause(); cause != nil {
		gone = ferry.WrapError(ferry.CodeUnavailable, cause, "the client's connection ended: "+cause.Error())
	}
	for _, e := range c.snapshot() {
		e.Abort(gone)
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

// prove marks the connection as one that sent a complete message: it is no
// longer the first to be closed when the connection limit is reached.
func (c *netConn) prove() { c.proven.Store(true) }

// closeRaw closes the accepted connection at once; serve then ends.
func (c *netConn) closeRaw() { c.raw.Close() }

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
