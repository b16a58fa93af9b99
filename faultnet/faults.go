package faultnet

import (
	"context"
	"net"
	"sync"
	"time"
)

// Dir selects the directions a fault applies to, seen from the wrapped
// side of a connection.
type Dir uint8

// The directions.
const (
	Out  Dir        = 1 << iota // bytes the wrapped side writes
	In                          // bytes the wrapped side reads
	Both = Out | In             // both directions
)

// index maps a single direction to 0 (Out) or 1 (In).
func index(d Dir) int { return int(d >> 1) }

// Faults is a set of faults applied to every connection it wraps. The zero
// value is not usable; call New. All methods are safe for concurrent use.
type Faults struct {
	mu      sync.Mutex
	stall   Dir
	drop    Dir
	latency [2]time.Duration // indexed by index(Out), index(In)
	buckets [2]bucket
	changed chan struct{} // closed and replaced whenever a fault changes
	conns   map[*conn]struct{}
}

// New returns a Faults with no fault set: wrapped connections behave like
// the connections they wrap.
func New() *Faults {
	return &Faults{changed: make(chan struct{}), conns: map[*conn]struct{}{}}
}

// update applies fn to f's state under f's lock and wakes every reader and
// writer waiting for a change.
func (f *Faults) update(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn()
	close(f.changed)
	f.changed = make(chan struct{})
}

// SetLatency delays by d every write (Out) and every read that returns
// data (In), in addition to the network's own delay. d = 0 removes the
// delay. A delayed read or write still honors its deadline.
func (f *Faults) SetLatency(dir Dir, d time.Duration) {
	f.update(func() {
		for _, one := range []Dir{Out, In} {
			if dir&one != 0 {
				f.latency[index(one)] = max(d, 0)
			}
		}
	})
}

// Stall blocks traffic in dir until Resume or Heal: writes wait before
// sending anything, and received bytes are held back from reads (as is
// an end of stream or a reset from the peer). Nothing is lost; a read or
// write waiting in a stall returns when its deadline passes or the
// connection is closed.
func (f *Faults) Stall(dir Dir) { f.update(func() { f.stall |= dir }) }

// Resume lifts every stall. Held bytes are delivered.
func (f *Faults) Resume() { f.update(func() { f.stall = 0 }) }

// Drop blackholes dir: writes report success but send nothing (Out), and
// received bytes are discarded (In), until Heal. While In is dropped, an
// end of stream or a reset from the peer is not reported either; it is
// reported after Heal.
func (f *Faults) Drop(dir Dir) { f.update(func() { f.drop |= dir }) }

// Blackhole partitions the network: Drop in both directions, so neither
// side hears from the other until Heal.
func (f *Faults) Blackhole() { f.Drop(Both) }

// SetBandwidth limits the throughput of dir to bytesPerSecond; 0 removes
// the limit. The limit is shared by all of f's connections, as if they
// went through one link, and passes bursts of up to 1/20 s of traffic at
// once, or 1 KiB when that is more (a second's worth below 1 KiB/s), so
// that a slow link still moves whole small messages.
func (f *Faults) SetBandwidth(dir Dir, bytesPerSecond int) {
	f.update(func() {
		now := time.Now()
		for _, one := range []Dir{Out, In} {
			if dir&one != 0 {
				f.buckets[index(one)].setRate(max(bytesPerSecond, 0), now)
			}
		}
	})
}

// Heal lifts every fault: stalls, drops, latency and bandwidth limits.
// Connections closed by CloseAll or ResetAll stay closed.
func (f *Faults) Heal() {
	f.update(func() {
		f.stall, f.drop = 0, 0
		f.latency = [2]time.Duration{}
		now := time.Now()
		for i := range f.buckets {
			f.buckets[i].setRate(0, now)
		}
	})
}

// CloseAll closes every open connection of f at once, as a crashing peer
// would; the remote side sees an end of stream. It returns how many it
// closed.
func (f *Faults) CloseAll() int { return f.closeAll(false) }

// ResetAll closes every open connection of f abruptly; the remote side of
// a TCP connection sees a reset (ECONNRESET) instead of an end of stream,
// and data not yet sent is discarded. It returns how many it closed.
func (f *Faults) ResetAll() int { return f.closeAll(true) }

func (f *Faults) closeAll(reset bool) int {
	f.mu.Lock()
	cs := make([]*conn, 0, len(f.conns))
	for c := range f.conns {
		cs = append(cs, c)
	}
	f.mu.Unlock()
	for _, c := range cs {
		if reset {
			c.setLingerZero()
		}
		c.Close()
	}
	return len(cs)
}

// Conns reports how many connections wrapped by f are open.
func (f *Faults) Conns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// Conn wraps c so that f's faults apply to it. Closing the returned
// connection closes c.
func (f *Faults) Conn(c net.Conn) net.Conn {
	fc := newConn(f, c)
	f.mu.Lock()
	f.conns[fc] = struct{}{}
	f.mu.Unlock()
	return fc
}

func (f *Faults) forget(c *conn) {
	f.mu.Lock()
	delete(f.conns, c)
	f.mu.Unlock()
}

// Listener wraps l so that every connection it accepts is wrapped by f.
func (f *Faults) Listener(l net.Listener) net.Listener { return &listener{Listener: l, f: f} }

// DialFunc dials a connection, like net.Dialer's DialContext.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// Dialer returns a DialFunc that dials with next (a zero net.Dialer when
// next is nil) and wraps the connection with f.
func (f *Faults) Dialer(next DialFunc) DialFunc {
	if next == nil {
		var d net.Dialer
		next = d.DialContext
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return f.Conn(c), nil
	}
}

type listener struct {
	net.Listener
	f *Faults
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.f.Conn(c), nil
}

// view is what one read or write needs to know of f's state.
type view struct {
	stalled bool
	dropped bool
	latency time.Duration
	changed <-chan struct{}
}

func (f *Faults) view(dir Dir) view {
	f.mu.Lock()
	defer f.mu.Unlock()
	return view{
		stalled: f.stall&dir != 0,
		dropped: f.drop&dir != 0,
		latency: f.latency[index(dir)],
		changed: f.changed,
	}
}

// reserve takes n bytes from dir's bucket and returns how long to wait
// before they may pass.
func (f *Faults) reserve(dir Dir, n int) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buckets[index(dir)].reserve(n, time.Now())
}

// chunk returns the most bytes one write or read in dir should move at
// once, or n when dir is not limited.
func (f *Faults) chunk(dir Dir, n int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b := &f.buckets[index(dir)]; b.rate > 0 {
		return min(n, int(b.burst))
	}
	return n
}
