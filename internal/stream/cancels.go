package stream

import (
	"context"
	"sync"
)

// pendingCancels bounds the cancels Cancels remembers for streams it does
// not track yet: a peer's cancels can overtake its streams' openings only
// by the streams it has in flight, and a bogus id costs one slot.
const pendingCancels = 64

// Cancels maps the streaming calls a peer opened, by stream id, to their
// cancel functions, for the peer's $ferry.cancelstream. The cancel travels
// on the call stream, so it can arrive before the call's own stream has
// been accepted and its handler started: such a cancel is remembered (the
// newest pendingCancels of them), and Track cancels that call at once.
// The zero value is ready to use.
type Cancels struct {
	mu      sync.Mutex
	live    map[uint32]context.CancelFunc
	pending map[uint32]struct{}
}

// Track records cancel as the cancel of the call on stream id and returns
// the function that forgets it. If the peer canceled that call already,
// Track calls cancel before it returns.
func (c *Cancels) Track(id uint32, cancel context.CancelFunc) (untrack func()) {
	c.mu.Lock()
	if _, ok := c.pending[id]; ok {
		delete(c.pending, id)
		c.mu.Unlock()
		cancel()
		return func() {}
	}
	if c.live == nil {
		c.live = map[uint32]context.CancelFunc{}
	}
	c.live[id] = cancel
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		delete(c.live, id)
		c.mu.Unlock()
	}
}

// Cancel cancels the call on stream id, or remembers that it was canceled
// if it is not tracked yet.
func (c *Cancels) Cancel(id uint32) {
	c.mu.Lock()
	if cancel := c.live[id]; cancel != nil {
		c.mu.Unlock()
		cancel()
		return
	}
	if c.pending == nil {
		c.pending = map[uint32]struct{}{}
	}
	if len(c.pending) >= pendingCancels {
		// Stream ids only grow: the smallest is the oldest, most likely
		// a cancel that came after its call had ended.
		oldest := id
		for p := range c.pending {
			oldest = min(oldest, p)
		}
		delete(c.pending, oldest)
	}
	if len(c.pending) < pendingCancels {
		c.pending[id] = struct{}{}
	}
	c.mu.Unlock()
}
