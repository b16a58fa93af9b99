package server

// The session streams a client opens: accepting them on demand, telling a
// call stream from a streaming call, and the set-up of each.

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

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
			sc := stream.New(st, c.limits())
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
	cost := c.callStreamCharge()
	if !c.budget.Charge(cost) {
		st.Close()
		return false
	}
	c.streams.Add(1) // the engine's, until ended
	e, p := c.add(transport.Prepend(st, b[0]), true, func(e *engine.Channel, p *Peer) { go c.ended(e, p, cost) })
	c.settle(st, false) // the engine answers every request it reads, even draining
	if e == nil {
		c.budget.Release(cost)
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

// callStreamCost is charged to the connection's memory budget for each
// session call stream but the session's first while its engine lives,
// idle or not: the engine, its reader, writer and decoder, its context
// and Peer (measured: about 3 KiB a stream that served a call, besides
// the 1 KiB the transport charges for the stream). The first, a Ferry
// client's only one, is part of what a session costs, which the
// connection bounds allow for. Without it, 44,000 idle call streams over
// 44 sessions held 180 MiB of the example server's heap with 42 MiB
// charged, against a budget of 48 MiB.
const callStreamCost = 3 << 10

// callStreamCharge returns what a new call stream is charged: nothing for
// the session's first.
func (c *netConn) callStreamCharge() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.callStreams++
	if c.callStreams == 1 {
		return 0
	}
	return callStreamCost
}

// ended releases a session call stream whose engine ended, and the cost
// it was charged: no goroutine waits for that while the stream is idle
// (the engine's reader serves it).
func (c *netConn) ended(e *engine.Channel, p *Peer, cost int) {
	defer c.budget.Release(cost)
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
	if ok, refuse := c.openStream(); !ok {
		if refuse {
			go c.refusePastMax(st)
		} else {
			st.Close() // past MaxStreams, with refusals already being written
		}
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
// MaxStreams are open or the session ended. Past MaxStreams, refuse says
// that a refusal's goroutine (refusePastMax) is counted in instead, if
// fewer than stream.MaxRefusing are running.
func (c *netConn) openStream() (ok, refuse bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.acceptEnded:
		return false, false
	case c.nstreams >= c.s.opts.cfg.MaxStreams:
		if c.refusing >= stream.MaxRefusing {
			return false, false
		}
		c.refusing++
		c.streams.Add(1)
		return false, true
	}
	c.nstreams++
	c.unsettled++ // until settle: counted from Accept, before its goroutine runs
	c.streams.Add(1)
	return true, false
}

// refusePastMax answers a stream opened past MaxStreams, unread, with a
// streaming call's final status refusing it (resource_exhausted, not
// executed), and closes it. A Ferry client opens streaming calls on every
// stream after its call stream: such a call fails not executed instead
// of with its outcome unknown (a call stream would read the status as a
// refusal of its msgid 0).
func (c *netConn) refusePastMax(st net.Conn) {
	defer c.streams.Done()
	defer func() {
		c.mu.Lock()
		c.refusing--
		c.mu.Unlock()
	}()
	stream.RefusePastMax(st, engine.Limits(c.s.opts.cfg), c.s.opts.cfg.WriteTimeout)
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
