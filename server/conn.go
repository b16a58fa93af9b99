package server

import (
	"context"
	"io"
	"net"
	"sync"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/transport"
)

// conn is one accepted connection: a yamux session with one engine per
// stream, or a single engine on bare MessagePack-RPC.
type conn struct {
	s       *Server
	nc      net.Conn
	limiter *engine.Limiter
	done    chan struct{}

	ctx    context.Context // parent of every handler context; canceled at close
	cancel context.CancelFunc
	since  time.Time

	mu             sync.Mutex
	proto          string
	sess           *transport.Session
	engines        map[*engine.Conn]struct{}
	firstPeer      *Peer
	streamCancels  map[uint32]context.CancelFunc
	draining       bool
	closed         bool
	streams        sync.WaitGroup // goroutines per stream and hook
	streamHandlers sync.WaitGroup // running streaming handlers
}

func (c *conn) serve() {
	defer c.s.wg.Done()
	defer close(c.done)
	defer c.s.forget(c)
	defer c.cancel()
	cfg := c.s.opts.cfg
	proto, pc, err := transport.Sniff(c.nc, cfg.SniffTimeout)
	if err != nil {
		c.s.opts.logger.Debug("ferry: connection rejected", "remote", c.nc.RemoteAddr(), "err", err)
		c.nc.Close()
		return
	}
	c.mu.Lock()
	c.proto = map[transport.Protocol]string{transport.ProtocolSession: "session", transport.ProtocolMsgpackRPC: "msgpack-rpc"}[proto]
	c.mu.Unlock()
	if proto == transport.ProtocolMsgpackRPC {
		if e, p := c.add(pc, false); e != nil {
			c.run(e, p)
		}
		c.streams.Wait()
		c.nc.Close()
		return
	}
	sess, err := transport.Server(pc, cfg)
	if err != nil {
		c.nc.Close()
		return
	}
	c.mu.Lock()
	c.sess = sess
	closed := c.closed
	c.mu.Unlock()
	if closed {
		sess.Close()
	}
	for {
		st, err := sess.Accept()
		if err != nil {
			break
		}
		c.streams.Add(1)
		go func() {
			defer c.streams.Done()
			c.serveSessionStream(st)
		}()
	}
	// The session is gone: calls through kept Peers fail as unavailable.
	for _, e := range c.snapshot() {
		e.Abort(ferry.NewError(ferry.CodeUnavailable, "the client's connection ended"))
	}
	c.cancel() // ends streaming handlers of the vanished connection
	c.streams.Wait()
	sess.Close()
}

// serveSessionStream tells a streaming call's stream from a
// MessagePack-RPC call stream by its first byte, and serves it.
func (c *conn) serveSessionStream(st net.Conn) {
	_ = st.SetReadDeadline(time.Now().Add(c.s.opts.cfg.SniffTimeout))
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil {
		st.Close()
		return
	}
	_ = st.SetReadDeadline(time.Time{})
	if b[0] == stream.Marker {
		c.serveStream(st)
		return
	}
	if e, p := c.add(transport.Prepend(st, b[0]), true); e != nil {
		c.run(e, p)
	}
}

// beginStream counts a streaming handler in, unless the connection is
// going away.
func (c *conn) beginStream() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.draining || c.closed {
		return false
	}
	c.streamHandlers.Add(1)
	return true
}

// streamContext is the parent context of a streaming call's handler.
func (c *conn) streamContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstPeer != nil {
		return context.WithValue(c.ctx, peerKey{}, c.firstPeer)
	}
	return c.ctx
}

// run calls the connection hooks around an engine's life and releases it.
func (c *conn) run(e *engine.Conn, p *Peer) {
	o := c.s.opts
	if o.onConnect != nil {
		c.streams.Add(1)
		go func() {
			defer c.streams.Done()
			o.onConnect(p)
		}()
	}
	<-e.Done()
	e.Close()
	c.remove(e)
	if o.onDisconnect != nil {
		o.onDisconnect(p)
	}
}

// add starts an engine on a stream unless the connection is closing.
func (c *conn) add(rwc net.Conn, ferryPeer bool) (*engine.Conn, *Peer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		rwc.Close()
		return nil, nil
	}
	p := &Peer{Conn: &client.Conn{}, id: peerIDs.Add(1), remote: c.nc.RemoteAddr()}
	e := engine.New(rwc, c.s.engineOptions(c, p, ferryPeer))
	p.Bind(e)
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

func (c *conn) remove(e *engine.Conn) {
	c.mu.Lock()
	delete(c.engines, e)
	c.mu.Unlock()
}

func (c *conn) snapshot() []*engine.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*engine.Conn, 0, len(c.engines))
	for e := range c.engines {
		out = append(out, e)
	}
	return out
}

func (c *conn) drain() {
	c.mu.Lock()
	c.draining = true
	sess := c.sess
	c.mu.Unlock()
	for _, e := range c.snapshot() {
		e.Drain()
	}
	if sess != nil {
		_ = sess.GoAway()
	}
}

func (c *conn) waitIdle(ctx context.Context) error {
	for _, e := range c.snapshot() {
		if err := e.WaitHandlers(ctx); err != nil {
			return err
		}
	}
	done := make(chan struct{})
	go func() { c.streamHandlers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close ends every engine (flushing their last responses) and the
// connection; serve then returns.
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	sess := c.sess
	c.mu.Unlock()
	c.closeEngines()
	c.cancel()
	if sess != nil {
		sess.Close()
	}
	c.nc.Close()
}

func (c *conn) closeEngines() {
	for _, e := range c.snapshot() {
		e.Close()
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}
