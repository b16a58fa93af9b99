package wire

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// The two ends of a session tell each other their message size limit in
// the hello (PROTOCOL.md section 4, "$ferry.hello"): the client in its
// params' map, the server in its answer, both under the key "max". Each
// side then sends no message past the smaller of the two limits, so that
// a message the peer would reject, closing the stream every unary call
// shares, fails alone on the sending side instead.

// HelloMaxKey is the key of a side's own limit in the hello's map and in
// its answer's (the name pubsub's "max" uses for a subscriber's limit).
const HelloMaxKey = "max"

// HelloAnswer is the answer to a successful $ferry.hello: the server's
// own limit.
type HelloAnswer struct {
	Max uint64 `msgpack:"max"`
}

// HelloMax reads the "max" key of a hello's map, or of its answer's: the
// peer's limit, or 0 when it said nothing usable. The map is attacker
// input: anything but a map with str keys, and a "max" that is not a
// non-negative integer (a negative one, a float, a str, nil, a
// container), is as if absent. A duplicated key counts as its last.
func HelloMax(m []byte) uint64 {
	n, off, ok := msgpack.MapLen(m)
	if !ok {
		return 0
	}
	var max uint64
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
		if string(key) == HelloMaxKey {
			max, _, _ = msgpack.ReadUint(m[off : off+vl]) // 0 on any error
		}
		off += vl
	}
	return max
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

// PeerMax is what a connection's peer said of its own message size limit
// in the hello: shared by every stream of the connection, it bounds what
// they send (Limits.Peer, Limits.SendMax). It is learned once the peer
// says it, and only ever lowered: a later hello cannot raise it. It is
// settled once the hello, if any, has been handled: a side that must not
// send before then (a server's calls to its client, which may start
// before the client's hello is read) waits for it (Await).
type PeerMax struct {
	max     atomic.Int64 // 0: unknown
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
	n = max(n, MinMaxMessage)
	for {
		cur := p.max.Load()
		if cur != 0 && cur <= int64(n) {
			return
		}
		if p.max.CompareAndSwap(cur, int64(n)) {
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
