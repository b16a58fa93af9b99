package server

// A connection's graceful drain and its close.

import (
	"context"
	"io"
	"net"
	"sync"
	"time"
)

// drain tells the client to send no more calls: a go-away on each call
// stream and on the session. It returns once the client has seen the
// session's go-away (a ping answered after it) and, from a client that
// promised it in its hello, once its $ferry.settled arrived (within the
// write timeout), so that every stream the client opened before then has
// reached the server: accepted, or reset by yamux as refused. Then the
// streams still being set up are refused (cutSetup). A second drain (two
// Shutdowns at once) waits for the first.
func (c *netConn) drain() {
	c.mu.Lock()
	c.draining = true
	sess := c.sess
	done := c.drainDone()
	again := c.drainStarted
	c.drainStarted = true
	c.mu.Unlock()
	if again { // another Shutdown drains c: done is closed once, by it
		<-done
		return
	}
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
// step 1). The call streams drain side by side: one whose go-away waits
// for room in a full window must not leave the others taking new calls
// (and starting handlers) meanwhile.
func (c *netConn) drainEngines(d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	engines := c.snapshot()
	if len(engines) == 1 {
		engines[0].DrainWritten(ctx)
		return
	}
	var wg sync.WaitGroup
	for _, e := range engines {
		wg.Go(func() { e.DrainWritten(ctx) })
	}
	wg.Wait()
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
		if err := c.waitRunning(ctx); err != nil {
			return err
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

// waitRunning waits, until ctx ends, until no session stream is being
// set up and no handler runs on c, whether or not its peer has seen the
// go-away yet.
func (c *netConn) waitRunning(ctx context.Context) error {
	if err := c.waitSettled(ctx); err != nil {
		return err
	}
	return c.waitHandlers(ctx)
}

// waitHandlers waits, until ctx ends, until no handler runs on c. A
// stream being set up is not waited for: until c's peer has seen the
// go-away, its setup may be part of a message that never ends (waitIdle
// waits for setups once drain cut them).
func (c *netConn) waitHandlers(ctx context.Context) error {
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

// handling reports whether a handler (unary or streaming) runs on c: one
// that returned is not counted while its reply or final status is
// written, which its caller may have received already.
func (c *netConn) handling() bool {
	if c.streamInvoking.Load() > 0 {
		return true
	}
	for _, e := range c.snapshot() {
		if e.Invoking() > 0 {
			return true
		}
	}
	return false
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
