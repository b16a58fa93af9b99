package server

// Which connections are quiet, for the eviction that makes room for new
// ones at the connection limit.

import "time"

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
