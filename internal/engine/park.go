package engine

import (
	"errors"
	"net"
	"time"
)

// readerIdle is how long the reader of a stream that can park waits
// without a complete message before it parks: it parks once a whole
// period passed without one, between one and two periods after the last.
// Short, like writerIdle: what an idle connection releases soon is reused
// by the connections still busy, and a reader restarts at most a few
// times a second.
const readerIdle = 250 * time.Millisecond

// parker is a stream whose reader goroutine may exit while nothing
// arrives and be started again when something does (transport.Stream).
type parker interface {
	SetReadDeadline(t time.Time) error
	Park(resume func()) bool
}

// A reader that waited readerIdle for a message parks: the idle timer
// sets a read deadline in the past, the reader's wait ends with a
// timeout, and the reader, when it holds no part of a message, releases
// its buffer and hands the stream's next arrival the job of starting it
// again (parker.Park), then returns. The deadlines that stop the reader
// for good (stopReading, writeFailed) and the one that parks it are
// ordered by rdMu, so that clearing the latter never clears the former.

// armIdle starts the idle timer of a reader that can park; the reader
// goroutine calls it when it starts and when it did not park.
func (c *Channel) armIdle() {
	if c.pk == nil {
		return
	}
	c.quiet.Store(false)
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	switch {
	case c.idleOff:
	case c.idleT == nil:
		c.idleT = time.AfterFunc(readerIdle, c.idleCheck)
	default:
		c.idleT.Reset(readerIdle)
	}
}

// idleCheck runs from the idle timer: after a whole period without a
// message it asks the reader to park, otherwise it waits another period.
func (c *Channel) idleCheck() {
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	switch {
	case c.idleOff || c.idleT == nil || c.stopRead.Load() || c.writeBroken():
	case !c.quiet.Swap(true): // a message came during the period
		c.idleT.Reset(readerIdle)
	default:
		// Only a reader waiting for a new message may be woken: not one
		// handling a message or reading a body. The reader clears
		// rdWait before it reads parking (and this side sets parking
		// before it reads rdWait), so one of the two sees the other.
		c.parkReq = true
		c.parking.Store(true)
		if !c.rdWait.Load() {
			c.parkReq = false
			c.parking.Store(false)
			c.idleT.Reset(readerIdle)
			return
		}
		_ = c.pk.SetReadDeadline(time.Unix(1, 0)) // wakes the reader
	}
}

// unpark withdraws a park request the reader did not take: Next returned
// a message before the deadline woke it.
func (c *Channel) unpark() {
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	if !c.parkReq {
		return
	}
	c.parkReq = false
	c.parking.Store(false)
	if !c.stopRead.Load() && !c.writeBroken() { // else that deadline stays
		_ = c.pk.SetReadDeadline(time.Time{})
		c.rearmLocked()
	}
}

// rearmLocked starts another idle period; rdMu is held.
func (c *Channel) rearmLocked() {
	if !c.idleOff && c.idleT != nil {
		c.idleT.Reset(readerIdle)
	}
}

// stopIdle stops the idle timer for good: the reader returned.
func (c *Channel) stopIdle() {
	if c.pk == nil {
		return
	}
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	c.idleOff = true
	if c.idleT != nil {
		c.idleT.Stop()
	}
}

// parkRequested reports whether err is the timeout the idle timer caused,
// and then clears the read deadline; a timeout for any other reason
// (stopReading, writeFailed) is left to handle.
func (c *Channel) parkRequested(err error) bool {
	var ne net.Error
	if c.pk == nil || !errors.As(err, &ne) || !ne.Timeout() {
		return false
	}
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	if !c.parkReq {
		return false
	}
	c.parkReq = false
	c.parking.Store(false)
	if c.stopRead.Load() || c.writeBroken() {
		return false
	}
	_ = c.pk.SetReadDeadline(time.Time{})
	return true
}

// park releases the reader's buffer and parks it, when it holds no part
// of a message and nothing waits to be read; it reports whether it did
// (the reader goroutine must then return at once: resume may already
// have started the next one). Otherwise the reader goes on.
func (c *Channel) park() bool {
	if c.rd.ReleaseIdle() {
		c.rdMu.Lock()
		c.idleT = nil // fired: a parked reader keeps no timer
		c.rdMu.Unlock()
		// Nor empty maps: a map keeps the slots it grew to (the next
		// call or request makes a new one).
		c.mu.Lock()
		if len(c.calls) == 0 {
			c.calls = nil
		}
		if len(c.running) == 0 {
			c.running = nil
		}
		c.mu.Unlock()
		// Before Park: the next arrival may resume the reader before
		// Park returns, and resume clears it.
		c.parkedAt.Store(time.Now().UnixNano())
		c.onPark(true)
		if c.pk.Park(c.resume) {
			return true
		}
		c.parkedAt.Store(0)
		c.onPark(false)
	}
	c.armIdle()
	return false
}

// resume starts the reader again (parker.Park calls it).
func (c *Channel) resume() {
	c.parkedAt.Store(0)
	c.onPark(false)
	go c.readLoop()
}

func (c *Channel) onPark(parked bool) {
	if c.opts.OnPark != nil {
		c.opts.OnPark(parked)
	}
}

// QuietSince reports whether the conn is quiet, and since when: nothing
// arrived for a while (the reader parked; on a stream that cannot park,
// no message for readerIdle), no handler runs and no call of this side
// waits for its reply.
func (c *Channel) QuietSince() (time.Time, bool) {
	at := c.QuietHint()
	if at == 0 || c.active.Load() != 0 || (c.pk == nil && time.Since(time.Unix(0, at)) < readerIdle) {
		return time.Time{}, false
	}
	c.mu.Lock()
	busy := len(c.calls) > 0 || c.err != nil
	c.mu.Unlock()
	if busy || c.QuietHint() != at {
		return time.Time{}, false
	}
	return time.Unix(0, at), true
}

// QuietHint returns, in Unix ns, when the reader parked, or for a stream
// that cannot park when its last message arrived; 0 while a reader that
// can park reads. Cheap (atomic loads): a hint of which conn may be
// quiet, which QuietSince confirms.
func (c *Channel) QuietHint() int64 {
	if c.pk == nil {
		return c.lastMsg.Load()
	}
	return c.parkedAt.Load()
}

// writeBroken reports whether a write failed (writeFailed set the read
// deadline that makes the reader fail the conn).
func (c *Channel) writeBroken() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.werr != nil
}

// setReadDeadline sets the read deadline that stops the reader for good;
// the caller has already said why (stopRead, werr).
func (c *Channel) setReadDeadline(d interface{ SetReadDeadline(time.Time) error }, t time.Time) error {
	c.rdMu.Lock()
	defer c.rdMu.Unlock()
	return d.SetReadDeadline(t)
}
