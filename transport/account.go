package transport

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Frame flags (yamux's spec).
const (
	flagSYN = 1
	flagFIN = 4
	flagRST = 8
)

// accounts charges a session's Budget for the bytes that yamux buffers for
// each stream, from the moment the guard sees a data frame's header until
// the application reads them, or until yamux forgets the stream: reset by
// the peer, closed by both sides, or closed by this side and timed out. A
// stream closed or refused by this side keeps what the peer already sent
// (and may still send, up to its window) until then; all of it stays
// charged, so a peer cannot make the session hold more than the budget by
// opening streams it knows will be refused.
type accounts struct {
	budget       *Budget
	closeTimeout time.Duration

	onForget  func(id uint32) // yamux dropped stream id; called under mu
	onTimeout func(id uint32) // stream id, closed by this side, timed out

	mu      sync.Mutex
	streams map[uint32]*account
	early   map[uint32]bool // streams of ours the peer reset between their opening frame and Open's track
	ended   bool
	count   atomic.Int32 // len(streams), read without mu
}

// maxEarly bounds the resets kept for streams of ours not tracked yet:
// Open tracks a stream as soon as its opening frame is sent.
const maxEarly = 64

// slack is what yamux's receive buffer (a bytes.Buffer, which doubles as
// it grows) may allocate per byte it holds: held bytes are charged twice.
const slack = 2

// streamOverhead is charged for every stream yamux keeps: its state,
// channels and buffers' headers, about a kilobyte.
const streamOverhead = 1 << 10

// account is one stream's bytes held by yamux and unread.
type account struct {
	held         int
	localClosed  bool
	remoteClosed bool
	fin          atomic.Bool // the peer closed the stream (read without mu)
	timer        *time.Timer
	resume       func() // a parked reader's (park); called once, then nil
	opening      bool   // one of ours, accounted for from its opening frame, not tracked by Open yet
}

// frame is called by the guard for every data and window-update frame
// header, before yamux sees it.
func (a *accounts) frame(id uint32, flags uint16, peerOpened, data bool, length uint32) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended {
		return nil
	}
	acc := a.streams[id]
	if acc == nil && flags&flagSYN != 0 && peerOpened {
		acc = &account{}
		a.streams[id] = acc
		a.count.Store(int32(len(a.streams)))
		if !a.budget.Force(streamOverhead) {
			return fmt.Errorf("%w (%d bytes of %d held; %d streams)", ErrMemoryBudget, a.budget.Used(), a.budget.Limit(), len(a.streams))
		}
	}
	if acc == nil {
		// A stream yamux does not know: a close of it is dropped, and one
		// of ours is accounted for from its opening frame (opening).
		return nil
	}
	if data && length > 0 || flags&(flagFIN|flagRST) != 0 {
		acc.unpark() // before yamux has the frame: the reader may wait for it
	}
	switch {
	case flags&flagRST != 0:
		if acc.opening && len(a.early) < maxEarly {
			if a.early == nil {
				a.early = map[uint32]bool{}
			}
			a.early[id] = true // for track, which must not account for it again
		}
		a.forget(id, acc) // yamux drops the stream and its buffer
		return nil
	case flags&flagFIN != 0:
		acc.remoteClosed = true
		acc.fin.Store(true)
		if acc.localClosed {
			a.forget(id, acc) // closed both ways: yamux drops it
			return nil
		}
	}
	if !data || length == 0 {
		return nil
	}
	acc.held += int(length)
	if !a.budget.Force(slack * int(length)) {
		return fmt.Errorf("%w (%d bytes of %d held; stream %d)", ErrMemoryBudget, a.budget.Used(), a.budget.Limit(), id)
	}
	return nil
}

// opening starts accounting for stream id, one of ours, as its opening
// frame is written: the peer may answer (send data, close or reset it)
// before Open tracks it. yamux registers a stream before it writes that
// frame, and drops a close of a stream it does not know: a close the
// peer sends for the ids this side opens next must not count.
func (a *accounts) opening(id uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ended || a.streams[id] != nil {
		return
	}
	a.streams[id] = &account{opening: true}
	a.count.Store(int32(len(a.streams)))
	a.budget.Force(streamOverhead) // past the budget, the peer's next frame ends the session
}

// openings is yamux's connection, below it: it tells the accounts of
// every stream this side opens as its opening frame is written (yamux
// writes a frame's header apart from its body, and only after it
// registered the stream).
type openings struct {
	net.Conn
	acct *accounts
	body bool // the next write is a data frame's body
}

func (o *openings) Write(p []byte) (int, error) {
	switch {
	case o.body:
		o.body = false
	case len(p) == frameHeader && p[0] == 0 && p[1] <= 1:
		if binary.BigEndian.Uint16(p[2:])&flagSYN != 0 {
			o.acct.opening(binary.BigEndian.Uint32(p[4:]))
		}
		o.body = dataHeader(p)
	}
	return o.Conn.Write(p)
}

// track checks that a stream, one the peer opened about to be accepted
// or one this side opened (accounted for from its opening frame), is
// accounted for, and returns its account (nil once the session has
// ended). It reports false for a stream already forgotten, reset before
// it was accepted (yamux still hands it to Accept) or before Open
// returned, which must not be charged again, since no frame will come to
// release it. What the peer sent or closed by then is in the account.
func (a *accounts) track(id uint32, peerOpened bool) (*account, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.ended:
		return nil, true // the session's end released everything already
	case a.streams[id] != nil:
		acc := a.streams[id]
		acc.opening = false
		return acc, true
	case peerOpened:
		return nil, false
	case a.early[id]:
		delete(a.early, id)
		return nil, false // reset before Open returned: yamux forgot it
	}
	// One of ours not seen opening, or reset past maxEarly (then kept
	// until the session ends): accounted for from now on.
	acc := &account{}
	a.streams[id] = acc
	a.count.Store(int32(len(a.streams)))
	a.budget.Force(streamOverhead) // past the budget, the peer's next frame ends the session
	return acc, true
}

// read releases n bytes the application read from stream id.
func (a *accounts) read(id uint32, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if acc := a.streams[id]; acc != nil {
		n = min(n, acc.held)
		acc.held -= n
		a.budget.Release(slack * n)
	}
}

// closed records that this side closed stream id: yamux drops it once the
// peer closes too, or after the close timeout. It reports false when the
// stream is not tracked: yamux already dropped it (the peer reset it, or
// the session ended), so no forget will follow.
func (a *accounts) closed(id uint32) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.streams[id]
	if acc == nil {
		return false
	}
	if acc.localClosed {
		return true
	}
	acc.localClosed = true
	if acc.remoteClosed {
		a.forget(id, acc)
		return true
	}
	// yamux keeps the stream until the peer closes it too (its own close
	// timer is off: see Config.yamux); after the timeout, what the peer
	// sent on it is dropped.
	acc.timer = time.AfterFunc(a.closeTimeout, func() {
		if a.onTimeout != nil {
			a.onTimeout(id) // drops the data: reads release it
		}
	})
	return true
}

// park calls resume once something arrives for stream id (data, its
// close or reset), or the stream is forgotten, and returns true; or it
// returns false at once when data or the peer's close already came, or the
// stream is not (or no longer) tracked.
func (a *accounts) park(id uint32, resume func()) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.streams[id]
	if a.ended || acc == nil || acc.held > 0 || acc.remoteClosed {
		return false
	}
	acc.resume = resume
	return true
}

// buffered reports the bytes held for stream id and not read yet.
func (a *accounts) buffered(id uint32) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if acc := a.streams[id]; acc != nil {
		return acc.held
	}
	return 0
}

// wake calls the resume of a reader parked on stream id, if any.
func (a *accounts) wake(id uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if acc := a.streams[id]; acc != nil {
		acc.unpark()
	}
}

// unpark calls the parked reader's resume, once; the accounts' mu is held.
func (acc *account) unpark() {
	if fn := acc.resume; fn != nil {
		acc.resume = nil
		fn()
	}
}

// forget releases what stream id held; mu is held.
func (a *accounts) forget(id uint32, acc *account) {
	acc.unpark()
	if acc.timer != nil {
		acc.timer.Stop()
	}
	a.budget.Release(slack*acc.held + streamOverhead)
	acc.held = 0
	delete(a.streams, id)
	a.count.Store(int32(len(a.streams)))
	if a.onForget != nil && acc.localClosed {
		a.onForget(id)
	}
}

// end releases everything: the session is over.
func (a *accounts) end() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.ended = true
	a.early = nil
	for id, acc := range a.streams {
		a.forget(id, acc)
	}
}
