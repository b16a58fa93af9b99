package engine

import (
	"reflect"
	"strings"
	"unsafe"

	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
)

// Direct bodies: a request or response whose payload is one bin of at
// least directMin bytes is read in two parts (wire.Reader.SetDirect). The
// reader hands over the head as soon as the bin's header has arrived, or,
// when nothing of the body came with it, after one more read (so that
// arrivedEnough sees the body arriving); the body is then read from the stream straight into the slice that a []byte
// argument or reply ends up in, instead of into the reader's buffer first
// and copied from there. Anything else (another argument or reply type, a
// reserved method, the first message, a reply into the caller's array
// for a call whose context can end on a conn without a stall timeout)
// takes the whole message as before.
//
// The bounds stay those of a whole message: the reader's scanner has
// checked the bin's declared length against the size limit before it
// splits, and the destination is charged to the budget before it is
// allocated (a call's arguments as DecodeCost, a reply while it is read).
const directMin = 64 << 10

// directAhead bounds what a direct body may make us allocate ahead of what
// arrived: a body goes direct only when what has arrived of it (in the
// reader's buffer, and held by the stream, up to the frame just announced)
// is at least 1/directAhead of it. A peer that sends a head and trickles the
// body gets the whole-message path, whose buffer grows with what arrives,
// instead of an array of the declared length charged at once; a fast
// sender has sent a window's worth (256 KiB at first) by then.
const directAhead = 8

// arrivedEnough reports whether enough of the pending body of n bytes has
// arrived for it to be read direct (directAhead).
func (c *Channel) arrivedEnough(n int) bool {
	got := c.rd.Arrived()
	if b, ok := c.rwc.(interface{ Buffered() int }); ok {
		got += b.Buffered()
	}
	return n <= directAhead*got
}

// directArgs returns a fresh *[]byte for meth's arguments when they are
// a []byte that a bin decodes into whole (as registry.Method.DecodeArgs
// decodes params [bin] or bin), and nil otherwise.
func directArgs(meth *registry.Method) *[]byte {
	if t := meth.ArgsType; t == nil || (t.Kind() != reflect.Slice && t.Kind() != reflect.Pointer) {
		return nil
	}
	args, _ := meth.NewArgs().(*[]byte)
	return args
}

// handleHead handles the head of a message whose body the reader has not
// read yet. It returns whole when the message must be taken whole
// instead, and false when the reader must return.
func (c *Channel) handleHead(b []byte) (whole, ok bool) {
	h, _ := wire.ParseHead(b)
	if h.Type == wire.TypeResponse {
		return c.completeHead(&h)
	}
	if c.locked.Load() || len(h.Method) == 0 || h.Method[0] == '$' || c.opts.Registry == nil {
		return true, true
	}
	meth := c.opts.Registry.Lookup(h.Method)
	if meth == nil || !meth.Unary() {
		return true, true
	}
	args := directArgs(meth)
	if args == nil || !c.arrivedEnough(h.Body) {
		return true, true
	}
	c.nread++
	m := h.Message
	if h.HasExt {
		m.Ext = noExt // not nil: the request has extensions (read after the body)
	}
	c.head, c.headArgs, c.headErr = &h, args, nil
	c.serve(&m)
	c.head, c.headArgs = nil, nil
	if err := c.headErr; err != nil {
		c.readFailed(err)
		return false, false
	}
	if c.rd.Body() > 0 { // refused before its body was read
		if _, err := c.rd.ReadBody(nil); err != nil {
			c.readFailed(err)
			return false, false
		}
	}
	return false, true
}

// noExt stands for the extensions of a request until they are read.
var noExt = []byte{}

// readArgs reads the body of the request c.head into a new []byte, the
// call's arguments (c.headArgs), and its extensions into m.Ext. A read
// error is left in c.headErr.
func (c *Channel) readArgs(m *wire.Message) any {
	args := c.headArgs
	buf := uncleared(c.head.Body)
	rest, err := c.rd.ReadBody(buf)
	if err != nil {
		c.headErr = err
		return nil
	}
	*args = buf
	m.Ext = rest
	if h, ok := wire.ParseHead(c.rd.Head()); ok {
		m.Method = h.Method // the head may have moved while the extensions arrived
	}
	return args
}

// completeHead reads the body of a response straight into the caller's
// *[]byte reply (reusing its array when large enough, as decoding does),
// or skips it for a nil reply; any other reply takes the whole message.
// A call whose context ends while its body arrives ends at once when the
// body goes into a new array (its entry stays abandonable until the body
// is read), and after the read under way when it goes into the caller's
// array (lent: the reader then skips the rest). On a conn without a stall
// timeout, where that read may never end, the caller's array is lent only
// by a call whose context cannot end; other such calls take the whole
// message.
func (c *Channel) completeHead(h *wire.Head) (whole, ok bool) {
	c.mu.Lock()
	p := c.calls[h.ID]
	if p == nil {
		c.mu.Unlock()
		return false, true // abandoned, or an id we never sent: Next skips it
	}
	dst, isBytes := p.reply.(*[]byte)
	if (!isBytes || dst == nil) && p.reply != nil {
		c.mu.Unlock()
		return true, true
	}
	inPlace := dst != nil && cap(*dst) >= h.Body
	if dst != nil && !inPlace && !c.arrivedEnough(h.Body) {
		c.mu.Unlock()
		return true, true // a new array only for a body that is arriving
	}
	if inPlace && p.ends && c.opts.StallTimeout <= 0 {
		c.mu.Unlock()
		return true, true // decoded from the whole message, as before
	}
	charged := 0
	if dst != nil && !inPlace {
		// A new array: charged while it is filled, as the reader's buffer
		// would have been.
		if !c.opts.Budget.Charge(h.Body) {
			c.mu.Unlock()
			return true, true // the reader's own charge fails the conn
		}
		charged = h.Body
	}
	var keep func() bool
	ended := false // the call was ended while its array was lent
	if inPlace {
		delete(c.calls, h.ID) // the caller waits for the read under way
		if p.ends {
			c.lent = p
			c.lentStop.Store(false)
			keep = func() bool {
				if !c.lentStop.Load() {
					return true
				}
				c.mu.Lock()
				c.lent = nil
				why := c.lentWhy
				c.mu.Unlock()
				ended = true
				p.finish(status.Context(why))
				return false
			}
		}
	}
	c.mu.Unlock()
	var buf []byte
	switch {
	case dst == nil: // skipped
	case inPlace:
		buf = (*dst)[:h.Body]
	default:
		buf = uncleared(h.Body)
	}
	_, _, err := c.rd.ReadBodyWhile(buf, keep)
	c.opts.Budget.Release(charged)
	owned := !ended
	c.mu.Lock()
	if c.lent == p {
		c.lent = nil
	}
	if !inPlace {
		owned = c.calls[h.ID] == p // else abandoned, or failed, meanwhile
		if owned {
			delete(c.calls, h.ID)
		}
	}
	c.mu.Unlock()
	if err != nil {
		c.readFailed(err)
		if owned {
			p.finish(callError(c.Err()))
		}
		return false, false
	}
	if owned {
		if dst != nil {
			*dst = buf
		}
		p.finish(nil)
	}
	return false, true
}

// abandonLent asks the reader to stop reading a response body into the
// reply array of p, whose context ended for why; it reports whether p's
// array was lent. The reader then finishes p before its next read.
func (c *Channel) abandonLent(p *pending, why error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lent != p {
		return false
	}
	c.lentWhy = why
	c.lentStop.Store(true)
	return true
}

// readFailed ends the conn after a read error.
func (c *Channel) readFailed(err error) {
	c.mu.Lock()
	if c.werr != nil {
		err = c.werr // the read deadline was set because of it
	}
	c.mu.Unlock()
	c.fail(err, false)
}

// uncleared returns a new slice of n bytes whose contents are left as
// the allocator found them: the body read into it overwrites every byte,
// and clearing a large new array first costs as much as reading into it.
// It is strings.Builder's allocation (the only uncleared one the standard
// library makes for a length it is not copying from), taken back as the
// []byte it was allocated as; the string is never used.
func uncleared(n int) []byte {
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0)
	return unsafe.Slice(unsafe.StringData(sb.String()), n)
}
