package server

import (
	"errors"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
)

// A session stream being set up must send its first byte and, for a
// streaming call, its whole opening request within SniffTimeout of its
// accept. Once a graceful close has drained the connection (the client
// has seen the go-away, and said it settled), a stream still being set up
// holds part of a message at most: it is no call in progress, and it would
// be refused anyway, so the close no longer waits for it (cutSetup). It is
// refused at once with errDrainedSetup, as one that arrived whole would be.

// errDrainedSetup refuses a streaming call whose opening request had not
// arrived whole when the connection's graceful close was ready to finish.
var errDrainedSetup = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the server is shutting down"))

// setupDeadline is the read deadline of a session stream whose setup
// starts now; mu is held.
func (c *netConn) setupDeadline() time.Time {
	if c.setupCut {
		return time.Now()
	}
	return time.Now().Add(c.s.opts.cfg.SniffTimeout)
}

// armSetup sets st's read deadline for its setup (settle recorded it).
func (c *netConn) armSetup(st net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d, ok := c.settling[st]; ok {
		_ = st.SetReadDeadline(d)
	}
}

// endSetup clears st's setup deadline once its setup has been read: the
// call stream's engine, or the streaming call, sets its own from then on.
func (c *netConn) endSetup(st net.Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.settling[st]; ok {
		c.settling[st] = time.Time{}
	}
	_ = st.SetReadDeadline(time.Time{})
}

// cutSetup ends the wait for the session streams still being set up: their
// reads time out now, and so do those of streams accepted later.
func (c *netConn) cutSetup() {
	c.mu.Lock()
	defer c.mu.Unlock()

	c.setupCut = true
	now := time.Now()
	for st, d := range c.settling {
		if !d.IsZero() {
			c.settling[st] = now
			_ = st.SetReadDeadline(now)
		}
	}
}

// setupWasCut reports whether err, a setup read's, is cutSetup's timeout.
func (c *netConn) setupWasCut(err error) bool {
	c.mu.Lock()
	cut := c.setupCut
	c.mu.Unlock()
	var ne net.Error
	return cut && errors.As(err, &ne) && ne.Timeout()
}
