package wire

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// The two ends of a session tell each other their message size limit and
// their nesting limit in the hello (PROTOCOL.md section 4, "$ferry.hello"):
// the client in its params' map, the server in its answer, under the keys
// "max" and "depth". Each side then sends no message past the smaller of
// the two limits, so that a message the peer would reject, closing the
// stream every unary call shares, fails alone on the sending side instead.

// HelloMaxKey is the key of a side's own limit in the hello's map and in
// its answer's (the name pubsub's "max" uses for a subscriber's limit).
const HelloMaxKey = "max"

// HelloDepthKey is the key of a side's own MaxDepth in the hello's map and
// in its answer's. A side at the default, DefaultMaxDepth, leaves it out
// (SaidDepth), so that a default hello and answer are what they were
// before the key existed: an absent depth means DefaultMaxDepth.
const HelloDepthKey = "depth"

// HelloAnswer is the answer to a successful $ferry.hello: the server's
// own limits.
type HelloAnswer struct {
	Max   uint64 `msgpack:"max"`
	Depth uint64 `msgpack:"depth,omitempty"` // SaidDepth
}

// SaidDepth is what a side with MaxDepth depth says under HelloDepthKey:
// nothing (0, left out) at the default.
func SaidDepth(depth int) uint64 {
	if depth == DefaultMaxDepth || depth <= 0 {
		return 0
	}
	return uint64(depth)
}

// HelloMax reads the "max" key of a hello's map, or of its answer's: the
// peer's limit, or 0 when it said nothing usable. The map is attacker
// input: anything but a map with str keys, and a "max" that is not a
// non-negative integer (a negative one, a float, a str, nil, a
// container), is as if absent. A duplicated key counts as its last.
func HelloMax(m []byte) uint64 { return helloUint(m, HelloMaxKey) }

// HelloDepth reads the "depth" key of a hello's map, or of its answer's,
// the way HelloMax reads "max": the peer's MaxDepth. A hello or an answer
// that leaves it out, or says nothing usable, is from a side at the
// default (SaidDepth): DefaultMaxDepth.
func HelloDepth(m []byte) uint64 {
	if d := helloUint(m, HelloDepthKey); d > 0 {
		return d
	}
	return DefaultMaxDepth
}

// helloUint reads the non-negative integer under key in the map m, or 0.
func helloUint(m []byte, want string) uint64 {
	n, off, ok := msgpack.MapLen(m)
	if !ok {
		return 0
	}
	var v uint64
	for range n {
		if off >= len(m) || !isStr(m[off]) {
			return 0 // a key of another type (walkMap would take a bin)
		}
		key, kl, err := msgpack.ReadString(m[off:])
		if err != nil {
			return 0
		}
		off += kl
		vl, err := msgpack.Skip(m[off:])
		if err != nil {
			return 0
		}
		if string(key) == want {
			v, _, _ = msgpack.ReadUint(m[off : off+vl]) // 0 on any error
		}
		off += vl
	}
	return v
}

// isStr reports whether c begins a msgpack str (fixstr, str 8, 16, 32).
func isStr(c byte) bool { return c&0xe0 == 0xa0 || c >= 0xd9 && c <= 0xdb }

// SendMax returns the largest message this side sends: MaxMessage, or
// the peer's own limit when that is smaller (peer's set then).
func (l Limits) SendMax() (max int, peers bool) {
	if p := l.Peer.Max(); p > 0 && p < l.MaxMessage {
		return p, true
	}
	return l.MaxMessage, false
}

// SendDepth returns the deepest nesting this side sends: MaxDepth, or the
// peer's own MaxDepth when that is smaller (peer's set then).
func (l Limits) SendDepth() (depth int, peers bool) {
	if p := l.Peer.Depth(); p > 0 && p < l.MaxDepth {
		return p, true
	}
	return l.MaxDepth, false
}

// PeerMax is what a connection's peer said of its own message size limit
// and nesting limit in the hello: shared by every stream of the
// connection, it bounds what they send (Limits.Peer, Limits.SendMax,
// Limits.SendDepth). It is learned once the peer
// says it, and only ever lowered: a later hello cannot raise it. It is
// settled once the hello, if any, has been handled: a side that must not
// send before then (a server's calls to its client, which may start
// before the client's hello is read) waits for it (Await).
type PeerMax struct {
	max     atomic.Int64 // 0: unknown
	depth   atomic.Int64 // 0: unknown
	settled atomic.Bool
	mu      sync.Mutex
	wait    chan struct{} // made by the first Await that waits, closed by Settle; under mu
}

// Max returns the peer's limit in bytes, or 0 while it is unknown (a nil
// PeerMax is always unknown).
func (p *PeerMax) Max() int {
	if p == nil {
		return 0
	}
	return int(p.max.Load())
}

// Learn takes n, the limit the peer said (HelloMax), unless it is 0
// (unknown) or above the one already learned. A value past any int is
// as good as none: the side's own limit is smaller. One below
// MinMaxMessage is taken as MinMaxMessage, which no Ferry side can be
// configured below: the hello's answer, and an error reply, must get
// through.
func (p *PeerMax) Learn(n uint64) {
	if p == nil || n == 0 || n > uint64(math.MaxInt) {
		return
	}
	lower(&p.max, int64(max(n, MinMaxMessage)))
}

// Depth returns the peer's MaxDepth, or 0 while it is unknown (a nil
// PeerMax is always unknown).
func (p *PeerMax) Depth() int {
	if p == nil {
		return 0
	}
	return int(p.depth.Load())
}

// LearnDepth takes d, the MaxDepth the peer said (HelloDepth), the way
// Learn takes its message limit: 0 and a value past any int change
// nothing, one below MinMaxDepth (which no Ferry side can be configured
// below) is taken as MinMaxDepth, and it is only ever lowered.
func (p *PeerMax) LearnDepth(d uint64) {
	if p == nil || d == 0 || d > uint64(math.MaxInt) {
		return
	}
	lower(&p.depth, int64(max(d, MinMaxDepth)))
}

// lower sets v to n unless v holds a smaller value that is not 0.
func lower(v *atomic.Int64, n int64) {
	for {
		cur := v.Load()
		if cur != 0 && cur <= n {
			return
		}
		if v.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Settle marks the hello as handled (or as never coming): Await returns
// from then on.
func (p *PeerMax) Settle() {
	if p == nil || p.settled.Load() {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.settled.Swap(true) {
		return
	}
	if p.wait != nil {
		close(p.wait)
	}
}

// Settled reports whether Settle was called.
func (p *PeerMax) Settled() bool { return p == nil || p.settled.Load() }

// Await waits until Settle was called or done is closed. It reports
// whether it was settled.
func (p *PeerMax) Await(done <-chan struct{}) bool {
	if p.Settled() {
		return true
	}
	p.mu.Lock()
	if p.settled.Load() {
		p.mu.Unlock()
		return true
	}
	if p.wait == nil {
		p.wait = make(chan struct{})
	}
	wait := p.wait
	p.mu.Unlock()
	select {
	case <-wait:
		return true
	case <-done:
		return false
	}
}
