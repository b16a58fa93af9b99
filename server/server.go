package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("ferry: server closed")

// Server serves registered methods on any number of listeners.
type Server struct {
	opts    options
	optErr  error
	reg     *registry.Registry
	ic      ferry.ServerInterceptor
	cic     ferry.ClientInterceptor
	sic     ferry.StreamServerInterceptor // around streams clients open
	scic    ferry.StreamClientInterceptor // around streams opened through a Peer
	serving stream.Serving                // runs the streams clients open

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*netConn]struct{}
	perIP     map[string]map[*netConn]struct{} // the connections from each IP (netConn.peers); under mu
	closing   bool
	pool      *transport.Pool // the server-wide memory budget
	wg        sync.WaitGroup  // Serve loops and connections
	ctx       context.Context
	cancel    context.CancelFunc
	draining  context.CancelFunc // ends serving.Draining: a shutdown began
}

// New returns a server. An invalid option is reported by Serve and
// ServeConn.
func New(opts ...Option) *Server {
	s := &Server{opts: defaultOptions(), reg: registry.New()}
	for _, o := range opts {
		if err := o(&s.opts); err != nil && s.optErr == nil {
			s.optErr = err
		}
	}
	if s.opts.logger == nil {
		s.opts.logger = slog.New(slog.DiscardHandler)
	}
	s.ic = ferry.ChainServer(s.opts.interceptors...)
	s.cic = ferry.ChainClient(s.opts.clientInterceptors...)
	s.sic = ferry.ChainStreamServer(s.opts.streamICs...)
	s.scic = ferry.ChainStreamClient(s.opts.streamClientICs...)
	s.serving = stream.Serving{Interceptor: s.sic, Logger: s.opts.logger, CloseTimeout: s.opts.cfg.StreamCloseTimeout}
	s.serving.Draining, s.draining = context.WithCancel(context.Background())
	s.perIP = map[string]map[*netConn]struct{}{}
	s.listeners = map[net.Listener]struct{}{}
	s.conns = map[*netConn]struct{}{}
	base, cancel := context.WithCancel(context.Background())
	s.ctx, s.cancel = context.WithValue(base, shuttingKey{}, s.serving.Draining.Done()), cancel
	if s.opts.memory == 0 {
		s.opts.memory = DefaultMemoryBudget()
	}
	// Raised as each connection's is (transport.Config.ConnBudget), so
	// that one message of the largest size always fits.
	s.pool = transport.NewPool(max(s.opts.memory, 2*int64(s.opts.cfg.MaxMessageSize)+1<<20))
	return s
}

type shuttingKey struct{}

// ShuttingDown returns a channel that is closed once the server running
// the handler whose context is ctx (or one derived from it) begins a
// graceful Shutdown, or a Close; it returns nil (a channel that never
// closes) outside such a handler.
func ShuttingDown(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(shuttingKey{}).(<-chan struct{})
	return ch
}

// Register publishes the exported methods of rcvr as "Type.Method". Each
// must have the shape M(ctx context.Context, args A, reply *R) error or
// M(args A, reply *R) error; any other exported method is an error naming
// it. Type is the name of rcvr's type (of what it points to): a type that
// is not exported, or has no name (a struct literal embedding one with
// methods), is an error saying to use RegisterName.
func (s *Server) Register(rcvr any) error { return s.RegisterName("", rcvr) }

// RegisterName is Register with name in place of the type's name, so that
// it takes a receiver of any type, exported or not.
func (s *Server) RegisterName(name string, rcvr any) error {
	ms, err := registry.Reflect(name, rcvr)
	if err != nil {
		return err
	}
	return s.reg.Add(ms...)
}

// Handle registers a type-checked handler as name ("Service.Method"):
//
//	server.Handle(s, "Greeter.Hello", func(ctx context.Context, req *HelloReq) (*HelloResp, error) {...})
func Handle[Req, Resp any](s *Server, name string, fn func(context.Context, *Req) (*Resp, error)) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return s.reg.Add(registry.Typed(name, fn))
}

// Serve accepts connections on l until Shutdown or Close, and returns
// ErrServerClosed then, or the listener's error. An Accept error that
// passes (a timeout, or the want of file descriptors, buffer space or
// memory) is logged, and Serve accepts again after a pause that doubles
// from 5 ms to at most 1 s while the errors go on. l is closed when Serve
// returns, even when the server was already shut down (a listener that
// stayed open would keep receiving connections that nobody accepts, as
// one sharing its port with ListenReusePort does).
func (s *Server) Serve(l net.Listener) error {
	if s.optErr != nil {
		if l != nil {
			l.Close()
		}
		return s.optErr
	}
	if l == nil {
		return errors.New("ferry: Serve of a nil listener")
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			if closing || !acceptRetryable(err) {
				delete(s.listeners, l)
			}
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			if acceptRetryable(err) {
				// l stays among the listeners that Shutdown and Close
				// close, and their start ends the pause.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.logger.Warn("ferry: accept failed; retrying", "error", err, "in", backoff)
				pause := time.NewTimer(backoff)
				select {
				case <-pause.C:
				case <-s.serving.Draining.Done():
					pause.Stop()
				}
				continue
			}
			l.Close()
			return err
		}
		backoff = 0
		_ = transport.SetUserTimeout(nc, s.opts.cfg.DeadPeerTimeout())
		s.startConn(nc, false)
	}
}

// acceptRetryable reports whether an Accept error passes: a timeout, or
// the want of a resource that frees up as connections close (file
// descriptors, in the process or the system; buffer space; memory).
// Serve pauses and accepts again after one, as net/http's server does, so
// that a peer opening connections past the process's open-file limit
// cannot end it.
func acceptRetryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, want := range resourceErrors {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// ServeConn serves one connection and returns when it ends. Use it for
// connections that do not come from a listener, such as in-memory pipes.
func (s *Server) ServeConn(nc net.Conn) error {
	if s.optErr != nil {
		nc.Close()
		return s.optErr
	}
	if c := s.startConn(nc, true); c != nil {
		<-c.done
	}
	return nil
}

func (s *Server) startConn(nc net.Conn, wait bool) *netConn {
	ip := hostOf(nc.RemoteAddr())
	s.mu.Lock()
	overTotal := s.opts.maxConns > 0 && len(s.conns) >= s.opts.maxConns
	overIP := s.opts.perIP > 0 && len(s.perIP[ip]) >= s.opts.perIP
	if (overTotal || overIP) && !s.closing && s.makeRoom(ip, overIP) {
		overTotal, overIP = false, false
	}
	if closing := s.closing; closing || overTotal || overIP {
		s.mu.Unlock()
		if !closing {
			s.opts.logger.Warn("ferry: connection refused: connection limit reached", "remote", nc.RemoteAddr())
		}
		nc.Close()
		return nil
	}
	peers := s.perIP[ip]
	if peers == nil {
		peers = map[*netConn]struct{}{}
		s.perIP[ip] = peers
	}
	c := &netConn{s: s, nc: nc, raw: nc, ip: ip, peers: peers, engines: map[*engine.Channel]struct{}{}, done: make(chan struct{}), since: time.Now()}
	c.ctx, c.cancel = context.WithCancel(s.ctx)
	c.limiter = engine.NewLimiter(s.opts.maxCalls, s.opts.maxCalls)
	c.budget = transport.NewBudget(s.opts.cfg.ConnBudget(), s.pool)
	c.budget.OnShed(func() {
		s.opts.logger.Warn("ferry: server memory budget exceeded: closing the connection holding the most",
			"remote", nc.RemoteAddr(), "bytes", c.budget.Used())
		c.closeRaw()
	})
	s.conns[c] = struct{}{}
	peers[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go c.serve()
	return c
}

// makeRoom closes one connection, from ip when sameIP, so that a new one
// fits within the connection bounds, and reports whether it found one:
// the oldest that sent no complete message within unprovenGrace, else the
// quietest (after a go-away), else the oldest that sent none yet, else
// (at the total bound) the newest of an address holding at least two
// more than ip (after a go-away). s.mu is held and s is not closing.
func (s *Server) makeRoom(ip string, sameIP bool) bool {
	what, quiet := "an idle new connection", false
	v := s.oldestUnproven(ip, sameIP, time.Now().Add(-unprovenGrace))
	if v == nil {
		what = "a quiet connection"
		v = s.quietest(ip, sameIP)
		quiet = v != nil
	}
	if v == nil {
		what = "a new connection"
		v = s.oldestUnproven(ip, sameIP, time.Time{})
	}
	if v == nil && !sameIP {
		what = "a busy connection of the address holding the most"
		v = s.crowded(ip)
		quiet = v != nil
	}
	if v == nil {
		return false
	}
	v.evicted = true
	if quiet {
		s.wg.Add(1) // before Close can wait: closing is false under s.mu
		go func() {
			defer s.wg.Done()
			v.evict()
		}()
	} else {
		v.closeRaw()
	}
	s.opts.logger.Warn("ferry: connection limit reached: closed "+what, "remote", v.nc.RemoteAddr())
	return true
}

// unprovenGrace is how long a new connection has to send its first
// complete message before it makes room at a connection bound ahead of
// quiet ones: a client that just connected is sending it.
const unprovenGrace = 500 * time.Millisecond

// oldestUnproven returns the oldest connection, from ip when sameIP,
// accepted before before (if not zero), that has not yet sent a complete
// message and is not being evicted; among the quietScan connections it
// looks at when there are more. s.mu is held.
func (s *Server) oldestUnproven(ip string, sameIP bool, before time.Time) *netConn {
	var v *netConn
	seen := 0
	for c := range s.candidates(ip, sameIP) {
		if seen++; seen > quietScan {
			break
		}
		if c.evicted || c.proven.Load() || (!before.IsZero() && !c.since.Before(before)) {
			continue
		}
		if v == nil || c.since.Before(v.since) {
			v = c
		}
	}
	return v
}

// crowded returns a connection to close at the total bound when none is
// quiet or new: the newest of the address holding the most connections,
// if that address holds at least two more than ip, else nil. Without it, a
// few addresses that keep every connection they hold busy (a message
// every 200 ms, a stream held open) would lock every other address out.
// It looks at the quietScan addresses and connections it meets first.
// s.mu is held.
func (s *Server) crowded(ip string) *netConn {
	var top map[*netConn]struct{}
	seen := 0
	for _, peers := range s.perIP {
		if seen++; seen > quietScan {
			break
		}
		if len(peers) > len(top) {
			top = peers
		}
	}
	if len(top) < len(s.perIP[ip])+2 {
		return nil
	}
	var v *netConn
	seen = 0
	for c := range top {
		if seen++; seen > quietScan {
			break
		}
		if !c.evicted && (v == nil || c.since.After(v.since)) {
			v = c
		}
	}
	return v
}

// quietChecks bounds the connections quietest examines closely per new
// connection, and quietScan the connections each of its passes looks at:
// from a random place (Go's map iteration), so that a server holding
// tens of thousands spends microseconds, not a millisecond, per new
// connection at a bound.
const (
	quietChecks = 4
	quietScan   = 1024
)

// candidates returns the connections from ip when sameIP, else all; s.mu
// is held.
func (s *Server) candidates(ip string, sameIP bool) map[*netConn]struct{} {
	if sameIP {
		return s.perIP[ip]
	}
	return s.conns
}

// quietest returns a connection to close to make room, or nil: one that
// is quiet (nothing arrived on it for a while, no call in progress either
// way, no stream open but its call streams) and not being evicted; from
// ip when sameIP. Among those it takes one from the address holding the
// most connections, so that a flood from a few addresses loses its own
// first, and of those the one quiet the longest; among the quietScan
// connections it looks at when there are more. s.mu is held.
func (s *Server) quietest(ip string, sameIP bool) *netConn {
	now := time.Now().UnixNano()
	for range quietChecks {
		var v *netConn
		var vn int
		var vat int64
		seen := 0
		for c := range s.candidates(ip, sameIP) {
			if seen++; seen > quietScan {
				break
			}
			at := c.hint(now)
			if at == 0 || c.evicted || !c.proven.Load() {
				continue
			}
			n := len(c.peers)
			if v == nil || n > vn || (n == vn && at < vat) {
				v, vn, vat = c, n, at
			}
		}
		if v == nil {
			return nil
		}
		if v.quiet(now) {
			return v
		}
	}
	return nil
}

// Shutdown stops accepting connections, tells connected Ferry clients to
// send no more calls, waits for running handlers (unary and streaming) to
// finish, and closes every connection. Every call a Ferry client sent is
// answered or fails with ferry.NotExecuted true (PROTOCOL.md, "Going
// away"); only a call whose handler was still running when ctx ended can
// end with its outcome unknown. A request that has only partly arrived
// is not waited for: once the clients have seen the go-away, it is
// refused (the opening request of a streaming call) or left unread and
// reported to the client as not executed (a call).
//
// Shutdown returns at most 100 ms after ctx ends, whatever the handlers
// do. If ctx ends before they finish, Shutdown cancels every handler's
// context, refuses as not executed the calls whose handlers had not
// started, spends at most those 100 ms writing the last replies, closes
// every connection and returns ctx's error. It does not wait for handlers
// that ignore their context: their goroutines run on until they return,
// and their replies are dropped. Otherwise Shutdown returns nil once every
// goroutine the server started has exited.
//
// A peer that does not acknowledge the go-away (it answers no ping)
// holds up its own connection only, until ctx ends: that connection is
// then closed within the same 100 ms, and, no handler running on it, it
// is no cause for an error (no call was cut off).
//
// A handler that would otherwise run until its caller ends it (a
// subscription, a watch) should watch ShuttingDown and return, so that
// Shutdown does not wait for it until ctx ends; pubsub's broker does.
func (s *Server) Shutdown(ctx context.Context) error {
	conns := s.beginClose()
	// Every connection closes once no handler runs on any of them and its
	// own peer has seen the go-away: a stalled peer (a go-away waits for
	// the session's send loop, and the ping after it for the peer's
	// answer) must not hold the others' drain, nor the deadline in ctx.
	b := &quietBarrier{all: make(chan struct{})}
	b.left.Store(int64(len(conns)))
	forced := &forcedAt{ctx: ctx}
	errs := make(chan error, len(conns))
	for _, c := range conns {
		go func() { errs <- s.shutdownConn(ctx, c, b, forced) }()
	}
	var err error
	for range conns {
		if e := <-errs; err == nil {
			err = e
		}
	}
	exited := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(exited)
	}()
	// Handlers that ignore their context keep their goroutines: wait for
	// them only until ctx ends, then for at most forceGrace.
	if err == nil {
		select {
		case <-exited:
		case <-ctx.Done():
			// A connection closed because its peer did not acknowledge
			// the go-away (shutdownConn) ends within forceGrace after ctx.
			if !waitUntil(exited, forced.end()) {
				err = ctx.Err()
			}
		}
	} else {
		waitUntil(exited, forced.end())
	}
	s.cancel()
	return err
}

// quietBarrier is passed once every connection being shut down has no
// handler running.
type quietBarrier struct {
	left atomic.Int64  // connections not quiet yet
	all  chan struct{} // closed when left reaches 0
}

// quiet counts one connection in.
func (b *quietBarrier) quiet() {
	if b.left.Add(-1) == 0 {
		close(b.all)
	}
}

// shutdownConn drains c and closes it once no handler runs on any
// connection (b) and c is idle: its peer has seen the go-away, and no
// handler started meanwhile runs. It closes c gracefully, flushing its
// last replies within closeGrace but not past ctx's deadline by more than
// forceGrace. If ctx ends first, it cancels every handler's context,
// closes c by forced.end() and returns ctx's error.
func (s *Server) shutdownConn(ctx context.Context, c *netConn, b *quietBarrier, forced *forcedAt) error {
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		c.drain()
	}()
	// Not waitRunning: a deaf peer's partial stream opening, cut only once
	// its peer has seen the go-away, would hold every connection's close
	// until ctx ends (TestVreview17DeafPartialOpeningHoldsNoOtherDrain).
	err := c.waitHandlers(ctx)
	b.quiet()
	if err == nil {
		select {
		case <-b.all:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil {
		err = c.waitIdle(ctx)
	}
	// ctx ended (before Shutdown or during it) while no handler runs on
	// c: its peer had not acknowledged the go-away (it answers no ping,
	// or sends no $ferry.settled), or other connections' handlers held
	// the barrier. No call of c's is cut off, so this is no failure of
	// Shutdown's: c closes within forceGrace, answering what it read. (A
	// ctx canceled before Shutdown made it return ctx's error for an idle
	// server, or nil, by which of two ready channels a select took.)
	unacked := err != nil && !c.handling()
	var end time.Time
	switch {
	case unacked:
		// Closed by half of forceGrace before Shutdown stops waiting for
		// the server's goroutines, so that c's have exited by then.
		end, err = forced.end().Add(-forceGrace/2), nil
	case err == nil:
		grace := closeGrace
		if dl, ok := ctx.Deadline(); ok {
			grace = min(grace, max(time.Until(dl), forceGrace))
		}
		end = time.Now().Add(grace)
	default:
		end = forced.end()
		s.cancel() // every handler's context, at once
	}
	c.close(end)
	<-drained // the session is closed: its go-away returns at once
	return err
}

// waitUntil waits for done until end, and reports whether it came.
func waitUntil(done <-chan struct{}, end time.Time) bool {
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}

// forceGrace is how long Shutdown, once its ctx ended, spends answering
// and flushing before it closes the connections and returns.
const forceGrace = 100 * time.Millisecond

// returnSlack is what Shutdown keeps of forceGrace to return in: its timer
// firing and its last steps took 1-5 ms under the race detector.
const returnSlack = 10 * time.Millisecond

// forcedEnd is when a Shutdown whose ctx ended closes the connections,
// so that it returns at most forceGrace after ctx ended: counted from
// ctx's deadline when that is what ended it, not from the moment Shutdown
// saw it (it returned 101-105 ms after the deadline so).
func forcedEnd(ctx context.Context) time.Time {
	now := time.Now()
	from := now
	if dl, ok := ctx.Deadline(); ok && dl.Before(now) {
		from = dl
	}
	return from.Add(forceGrace - returnSlack)
}

// forcedAt is forcedEnd for one Shutdown, fixed the first time it is
// asked for, once ctx ended: each connection and Shutdown itself then
// count forceGrace from the same moment. Counted anew after a connection
// closed, from a ctx without a deadline, it made Shutdown return 135 ms
// after the cancel (TestVreview17CanceledShutdownBounded).
type forcedAt struct {
	ctx  context.Context
	once sync.Once
	at   time.Time
}

// end returns forcedEnd(ctx) as of its first call; ctx has ended.
func (f *forcedAt) end() time.Time {
	f.once.Do(func() { f.at = forcedEnd(f.ctx) })
	return f.at
}

// Close closes every listener and connection at once; running handlers see
// their contexts canceled. It returns after every goroutine the server
// started has exited, so a handler that ignores its context holds it; use
// Shutdown with a deadline to bound the wait.
func (s *Server) Close() error {
	closeAll(s.beginClose(), time.Now().Add(closeGrace))
	s.wg.Wait()
	s.cancel()
	return nil
}

func (s *Server) beginClose() []*netConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	s.draining()
	for l := range s.listeners {
		l.Close()
	}
	out := make([]*netConn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// hostOf returns the IP of a network address, or its string.
func hostOf(a net.Addr) string {
	if a == nil {
		return ""
	}
	if host, _, err := net.SplitHostPort(a.String()); err == nil {
		return host
	}
	return a.String()
}

func (s *Server) engineOptions(c *netConn, ferryPeer bool) engine.Options {
	cfg := s.opts.cfg
	eo := engine.Options{
		Control:          c.control,
		UnauthMaxMessage: wire.UnauthMaxMessage,
		Limits:           c.limits(),
		FerryPeer:        ferryPeer,
		Registry:         s.reg,
		Server:           s.ic,
		Client:           s.cic,
		Limiter:          c.limiter,
		WriteTimeout:     cfg.WriteTimeout, // on session streams too: a peer that stops reading replies is cut off
		Logger:           s.opts.logger,
		Budget:           c.budget,
		StallTimeout:     cfg.PartialMessageTimeout,
		OnMessage:        c.prove,

		DisallowUnknownFields: s.opts.strictFields,
		OnRefused:             s.opts.onRefused,
	}
	return eo
}

// closeAll closes conns concurrently by end, so that slow peers do not add
// up.
func closeAll(conns []*netConn, end time.Time) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.close(end)
		}()
	}
	wg.Wait()
}
