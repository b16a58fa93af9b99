package engine

import (
	"context"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/internal/meta"
)

// callCtx is the context a handler gets for one call from a Ferry peer:
// it ends at the call's deadline, when the peer cancels the call, when
// the connection ends (its parent) or when the handler returns.
//
// It is lazy. context.WithTimeout would allocate a context, arm a timer
// and register with the connection's context (a map insert and delete
// under the connection context's lock) for every call, though most
// handlers never wait on Done. callCtx lives inside its inbound call (no
// allocation of its own) and arms a timer and a hook on its parent only
// when Done or AfterFunc is first used; Err works without them by
// comparing the clock with the deadline and asking the parent.
type callCtx struct {
	parent   context.Context
	deadline time.Time      // zero: none of its own
	incoming *meta.Incoming // the call's metadata (meta.Key), or nil

	mu     sync.Mutex
	err    error
	done   chan struct{} // made by the first Done or AfterFunc
	armed  bool          // timer and parent hook in place
	timer  *time.Timer
	unhook func() bool // stops the parent hook
	afters []*afterFn
}

type afterFn struct{ f func() }

// init prepares c for a new call with its metadata (nil: none); timeout
// ≤ 0 with hasDeadline means the call is already past its deadline.
func (c *callCtx) init(parent context.Context, incoming *meta.Incoming, timeout time.Duration, hasDeadline bool) {
	c.parent, c.incoming = parent, incoming
	if hasDeadline {
		c.deadline = time.Now().Add(timeout)
	}
}

// Deadline reports the call's deadline, or its parent's if it has none.
func (c *callCtx) Deadline() (time.Time, bool) {
	if !c.deadline.IsZero() {
		if pd, ok := c.parent.Deadline(); ok && pd.Before(c.deadline) {
			return pd, true
		}
		return c.deadline, true
	}
	return c.parent.Deadline()
}

// Value returns the call's metadata for meta.Key (a value of its own, so
// that metadata costs no context of its own), else looks key up in the
// parent.
func (c *callCtx) Value(key any) any {
	if _, ok := key.(meta.Key); ok && c.incoming != nil {
		return c.incoming
	}
	return c.parent.Value(key)
}

// Err reports why the context ended, or nil.
func (c *callCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.pollLocked()
	}
	return c.err
}

// pollLocked ends c if its deadline has passed or its parent has ended,
// for when no timer or hook watches them.
func (c *callCtx) pollLocked() {
	switch {
	case !c.deadline.IsZero() && !time.Now().Before(c.deadline):
		c.endLocked(context.DeadlineExceeded)
	case c.parent.Err() != nil:
		c.endLocked(c.parent.Err())
	}
}

// Done returns a channel closed when the context ends.
func (c *callCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	return c.done
}

// AfterFunc arranges for f to run in its own goroutine once c ends, the
// way context.AfterFunc does; context.WithCancel and friends use it, so
// deriving a context from a call's context starts no goroutine.
func (c *callCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armLocked()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	a := &afterFn{f: f}
	c.afters = append(c.afters, a)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, x := range c.afters {
			if x == a {
				c.afters = append(c.afters[:i], c.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// armLocked makes the done channel and, unless c has ended, the timer
// and the parent hook that will end it.
func (c *callCtx) armLocked() {
	if c.done == nil {
		c.done = make(chan struct{})
		if c.err != nil {
			close(c.done)
		}
	}
	if c.armed || c.err != nil {
		return
	}
	if c.pollLocked(); c.err != nil {
		return
	}
	c.armed = true
	if !c.deadline.IsZero() {
		c.timer = time.AfterFunc(time.Until(c.deadline), func() { c.end(context.DeadlineExceeded) })
	}
	parent := c.parent
	c.unhook = context.AfterFunc(parent, func() { c.end(parent.Err()) })
}

// end ends c with err unless it has ended already.
func (c *callCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked(err)
}

func (c *callCtx) endLocked(err error) {
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.unhook != nil {
		c.unhook()
	}
	for _, a := range c.afters {
		go a.f()
	}
	c.afters = nil
}

// cancel ends the call's context, if it has one of its own: the peer
// canceled the call, the connection refused it, or its handler returned.
func (in *inbound) cancel() {
	if in.cancelable {
		in.call.end(context.Canceled)
	}
}
