package transport

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrMemoryBudget is wrapped by the error that ends a connection which
// made this side hold more than its memory budget.
var ErrMemoryBudget = errors.New("ferry: connection exceeded its memory budget")

// Budget counts the bytes one connection makes this side hold: data
// buffered for its streams, partial messages, arguments of calls waiting
// for or running in a handler, replies waiting to be written. Charges that
// would pass the limit fail; what the caller does then (refuse a call, end
// the stream or the session) depends on what was charged.
//
// A Budget may belong to a Pool, which bounds the sum over many
// connections and, when that is exceeded, sheds the largest consumers.
// The methods are safe for concurrent use. A nil *Budget accepts every
// charge.
type Budget struct {
	limit   int64
	used    atomic.Int64
	pool    *Pool
	shed    func()       // ends the connection; set by the pool's owner
	doomed  atomic.Bool  // shed by the pool: its connection is ending
	counted atomic.Int64 // bytes added to the pool's doomed sum for it
	closed  atomic.Bool
	// asking is held, with a pool, from a charge's reservation in used
	// until the pool has decided and a refused charge is taken back: who
	// holds it sees no charge that may yet be refused (Force, Used).
	asking sync.Mutex
	// pending is, of used, the charge the pool is deciding on (under
	// asking): the pool picks whom to shed by what each member holds
	// without it, so that a member is not shed, while another makes the
	// pool shed, for a charge it may be refused.
	pending atomic.Int64
	// pendingSeq is odd while a charge changes used and pending together
	// (under asking), so that held reads them as one.
	pendingSeq atomic.Uint64
}

// trackDoomed, once b.used has changed, makes what the pool's doomed sum
// counts for b, if b is being shed, what b holds now. It sets the count
// to b.used rather than adding the change: a change racing with b's
// shedding, which reads b.used, was counted twice there, or taken away
// twice (a release then counted as held by the others, which sheds a
// connection for nothing). Concurrent callers converge: a count set from
// a stale read makes the next caller's swap fail, and it reads again.
func (b *Budget) trackDoomed() {
	if !b.doomed.Load() {
		return
	}
	for {
		c, u := b.counted.Load(), b.used.Load()
		if c == u || b.counted.CompareAndSwap(c, u) {
			b.pool.doomedUsed.Add(u - c)
			return
		}
	}
}

// NewBudget returns a budget of limit bytes for one connection; limit ≤ 0
// means unbounded. pool may be nil.
func NewBudget(limit int64, pool *Pool) *Budget {
	b := &Budget{limit: limit, pool: pool}
	if pool != nil {
		pool.add(b)
	}
	return b
}

// Charge adds n bytes and reports whether both this budget and its pool
// still hold them. On false nothing stays charged.
func (b *Budget) Charge(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	if b.doomed.Load() {
		return false // shed: its connection is ending
	}
	if b.pool == nil || b.pool.limit <= 0 {
		// No pool, or one that refuses nothing: no charge can be
		// refused after its reservation.
		if !b.reserve(int64(n)) {
			return false
		}
		if b.pool != nil {
			b.pool.charge(b, int64(n))
			b.trackDoomed()
		}
		return true
	}
	b.asking.Lock()
	defer b.asking.Unlock()
	b.pendingSeq.Add(1) // the charge and pending change together: see held
	if !b.reserve(int64(n)) {
		b.pendingSeq.Add(1)
		return false
	}
	b.pending.Store(int64(n))
	b.pendingSeq.Add(1)
	if !b.pool.charge(b, int64(n)) {
		b.pendingSeq.Add(1)
		b.used.Add(-int64(n))
		b.pending.Store(0)
		b.pendingSeq.Add(1)
		b.trackDoomed() // shed meanwhile: it counted the charge
		return false
	}
	b.pending.Store(0)
	b.trackDoomed()
	return true
}

// settled returns used once no charge is waiting for the pool's answer:
// an over-limit sum that may count a charge the pool is about to refuse
// is read again.
func (b *Budget) settled(used int64) int64 {
	if b.pool == nil || b.limit <= 0 || used <= b.limit {
		return used
	}
	b.asking.Lock()
	defer b.asking.Unlock()
	return b.used.Load()
}

// reserve adds n bytes unless they would pass the limit. A charge that is
// refused is never added first: a concurrent Force would see it and end
// the connection, and Used would report it.
func (b *Budget) reserve(n int64) bool {
	if b.limit <= 0 {
		b.used.Add(n)
		return true
	}
	for {
		used := b.used.Load()
		if b.limit > 0 && used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

// Force adds n bytes that are already held and cannot be refused, and
// reports whether the budget is still within its limits. A budget its
// pool shed is not: its connection is ending, and the receive loop that
// forces what arrives stops reading at once rather than when the shedding
// goroutine closes it (meanwhile it read megabytes more, outside the
// pool's limit).
func (b *Budget) Force(n int) bool {
	if b == nil || n <= 0 {
		return true
	}
	used := b.settled(b.used.Add(int64(n)))
	ok := b.limit <= 0 || used <= b.limit
	if b.pool != nil {
		b.trackDoomed()
		if !b.pool.force(b, int64(n)) || b.doomed.Load() {
			ok = false
		}
	}
	return ok
}

// Release gives back n bytes charged before.
func (b *Budget) Release(n int) {
	if b == nil || n <= 0 || b.closed.Load() {
		return
	}
	b.used.Add(-int64(n))
	if b.pool != nil {
		b.pool.used.Add(-int64(n)) // before trackDoomed: see over
		b.trackDoomed()
	}
}

// Used reports the bytes charged now.
func (b *Budget) Used() int64 {
	if b == nil {
		return 0
	}
	return b.settled(b.used.Load())
}

// Limit reports the budget's limit in bytes (≤ 0: unbounded).
func (b *Budget) Limit() int64 {
	if b == nil {
		return 0
	}
	return b.limit
}

// OnShed sets the function that ends the connection when its pool sheds
// it. It is called at most once, in its own goroutine. On a nil Budget,
// which no pool sheds, it does nothing.
func (b *Budget) OnShed(fn func()) {
	if b == nil {
		return
	}
	if b.pool != nil {
		b.pool.mu.Lock()
		defer b.pool.mu.Unlock()
	}
	b.shed = fn
}

// Close gives back everything still charged and leaves the pool; later
// releases are ignored. Call it once the connection's goroutines have
// ended.
func (b *Budget) Close() {
	if b == nil || b.closed.Swap(true) {
		return
	}
	if b.pool != nil {
		b.pool.remove(b)
	}
}

// shedMax is the largest refusable charge for which a full pool closes
// its largest members to make room.
const shedMax = 64 << 10

// Pool bounds the bytes held for many connections together (a server-wide
// budget). When a charge would pass its limit, the pool ends the
// connections holding the most (their Budget's OnShed function) until it
// is back under it, unless the charge is large (over 64 KiB, such as a
// message growing) or the charging connection is itself the largest: then
// the charge is refused, and that connection is not ended for it (bytes
// it is forced to hold past the limit end it). Well-behaved connections
// keep being served.
//
// A member being shed keeps what its peer had in flight when it was shed
// (forced charges, up to its windows) until its connection has ended; all
// it holds then is about to be released, so it does not count against
// the limit for the others.
type Pool struct {
	limit      int64
	used       atomic.Int64
	doomedUsed atomic.Int64 // of used, what members being shed hold
	sheds      atomic.Int64

	mu      sync.Mutex
	members map[*Budget]struct{}
}

// NewPool returns a pool of limit bytes; limit ≤ 0 means unbounded.
func NewPool(limit int64) *Pool {
	return &Pool{limit: limit, members: map[*Budget]struct{}{}}
}

// Used reports the bytes charged now by every member together.
func (p *Pool) Used() int64 { return p.used.Load() }

// Limit reports the pool's limit in bytes (≤ 0: unbounded).
func (p *Pool) Limit() int64 { return p.limit }

// Sheds reports how many connections the pool has ended so far.
func (p *Pool) Sheds() int64 { return p.sheds.Load() }

func (p *Pool) add(b *Budget) {
	p.mu.Lock()
	p.members[b] = struct{}{}
	p.mu.Unlock()
}

func (p *Pool) remove(b *Budget) {
	p.mu.Lock()
	_, ok := p.members[b]
	delete(p.members, b)
	p.mu.Unlock()
	if ok {
		p.used.Add(-b.used.Swap(0))
		p.doomedUsed.Add(-b.counted.Swap(0))
	}
}

// over reports whether the pool, with n bytes more, holds more than its
// limit, not counting what members being shed hold now: those bytes are
// about to be released. Members being shed add to what they hold before
// the sum (Force) and take from the sum first (Release, remove), so the
// sum is read before what they hold and again after, and the smaller
// taken: their bytes never count as held by the others, which would shed
// a connection for nothing.
func (p *Pool) over(n int64) bool {
	if p.limit <= 0 {
		return false
	}
	before := p.used.Load()
	doomed := p.doomedUsed.Load()
	return min(before, p.used.Load())+n-doomed > p.limit
}

func (p *Pool) charge(b *Budget, n int64) bool {
	// Only small charges (a new connection, a small call) displace the
	// largest members: a large one (a growing message) is refused, so that
	// a crowd of connections streaming big messages cannot make the server
	// read all of them by displacing each other. A large charge is
	// refused before it is added: a concurrent force must not see the
	// pool over its limit because of it, and shed a member.
	if n > shedMax {
		for {
			used := p.used.Load()
			if p.over(n) {
				return false
			}
			if p.used.CompareAndSwap(used, used+n) {
				return true
			}
		}
	}
	p.used.Add(n)
	if !p.over(0) {
		return true
	}
	if p.shedUntilUnder(b, false) || b.small() {
		return true
	}
	p.used.Add(-n)
	return false
}

func (p *Pool) force(b *Budget, n int64) bool {
	p.used.Add(n)
	if !p.over(0) {
		return true
	}
	return p.shedUntilUnder(b, true) || b.small()
}

// shedFloor is what a member must hold for the pool to shed it. Ending a
// connection that holds less frees next to nothing, and what keeps a pool
// over its limit once every large member is being shed is their data
// still in flight: a new connection, holding a few kilobytes, is then let
// in rather than ended. Members that small can grow past the floor only
// while the pool is under its limit.
const shedFloor = 16 << 10

// small reports whether b holds less than shedFloor.
func (b *Budget) small() bool { return b.used.Load() < shedFloor }

// held is what b holds but a charge the pool is still deciding on. It
// reads used and pending while no charge changes both (pendingSeq): read
// between the two, a charge reserved but not yet pending made b look
// larger (shed for a charge it may be refused), and one taken back but
// still pending smaller.
func (b *Budget) held() int64 {
	for {
		seq := b.pendingSeq.Load()
		if seq&1 == 0 {
			h := b.used.Load() - b.pending.Load()
			if b.pendingSeq.Load() == seq {
				return h
			}
		}
		runtime.Gosched() // a charge is between two stores: no wait
	}
}

// shedUntilUnder sheds the largest members, b excepted, until the pool is
// back under its limit, and reports whether it is. When b is the largest,
// it is shed only if forced (bytes that already arrived): a refusable
// charge is refused, and its connection goes on, so that its peer learns
// the call was not executed rather than losing every call in flight.
// Members under shedFloor are never shed.
func (p *Pool) shedUntilUnder(b *Budget, forced bool) bool {
	for p.over(0) {
		victim, under := p.shedLargest(b, forced)
		if under {
			return true
		}
		if victim == nil || victim == b {
			return false
		}
	}
	return true
}

// shedLargest ends the member holding the most bytes and returns it; what
// it holds stops counting against the limit (over). When that is b and
// not shedB, it returns b without ending it. It sheds no one, and
// reports under, when the pool is no longer over its limit once it has
// the lock: members charging at once all see the pool over, and the
// first ones shed enough; the others must not shed the next largest
// each, down to connections that did nothing.
func (p *Pool) shedLargest(b *Budget, shedB bool) (victim *Budget, under bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.over(0) {
		return nil, true
	}
	var most int64
	for m := range p.members {
		if h := m.held(); m.shed != nil && h >= shedFloor && (victim == nil || h > most) {
			victim, most = m, h
		}
	}
	if victim == b && !shedB {
		return b, false
	}
	if victim != nil {
		fn := victim.shed
		victim.shed = nil // once
		victim.doomed.Store(true)
		victim.trackDoomed()
		p.sheds.Add(1)
		go fn()
	}
	return victim, false
}
