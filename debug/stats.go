package debug

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/hist"
	"github.com/ferryrpc/ferry/server"
)

// window is how many seconds of per-second call counts Stats keeps.
const window = 60

// Stats counts the calls a server handles, per method and per connection,
// the calls it refuses before a handler runs, its streaming calls apart
// (streams.go), and, with ClientInterceptor, the calls a side makes.
// Install it with Option when creating the server (Interceptor, Refused
// and StreamInterceptor are its parts); it is safe for concurrent use.
type Stats struct {
	start   time.Time
	mu      sync.RWMutex
	methods map[string]*methodStats // calls served
	client  map[string]*methodStats // calls made (ClientInterceptor)
	all     hist.Histogram
	denied  atomic.Uint64 // calls that ended with CodePermissionDenied
	rollMu  sync.Mutex
	secs    [window]second
	connMu  sync.Mutex
	conns   map[*server.Peer]*connCounts
	// connsDrop is the count of counters at which conn next drops closed
	// connections' (under connMu).
	connsDrop int
	streams   streamTable
}

// connCounts are one connection's calls.
type connCounts struct {
	calls, errors atomic.Uint64
}

// maxClosedConns bounds the counters kept for connections that ended
// before a snapshot dropped them, or as many as are open when more are:
// conn drops them once the counters pass twice what the last drop left
// (at least maxClosedConns), so that the walk of every counter is paid
// for by as many new connections. A walk at each new connection cost
// 150 µs with 2,400 connections open, under the lock every call takes.
const maxClosedConns = 256

type methodStats struct {
	calls    atomic.Uint64
	errors   atomic.Uint64
	refused  atomic.Uint64 // refused before the handler (not in calls)
	inFlight atomic.Int64
	hist     hist.Histogram // handler time (served) or round trip (made)
	read     hist.Histogram // served: since the message was read (decoding, queueing, handler)
	codesMu  sync.Mutex
	codes    map[ferry.Code]uint64 // errors of calls that ran
	rcodes   map[ferry.Code]uint64 // refusals
}

// second holds the calls that finished in one wall-clock second.
type second struct {
	unix   atomic.Int64
	calls  atomic.Uint64
	errors atomic.Uint64
}

// New returns empty statistics.
func New() *Stats {
	return &Stats{start: time.Now(), methods: map[string]*methodStats{}, client: map[string]*methodStats{}, conns: map[*server.Peer]*connCounts{}}
}

// Option installs the statistics on a server: the interceptor that times
// the calls handlers run, the hook that counts the calls refused before a
// handler ran (server.WithRefused), and the stream interceptor:
//
//	st := debug.New()
//	s := server.New(st.Option())
//	http.Handle("/debug/ferry", st.Handler(s))
func (st *Stats) Option() server.Option {
	calls := both(server.WithInterceptors(st.Interceptor()), server.WithRefused(st.Refused))
	return both(calls, server.WithStreamInterceptors(st.StreamInterceptor()))
}

// both applies two options.
func both[O ~func(P) error, P any](a, b O) O {
	return func(p P) error {
		if err := a(p); err != nil {
			return err
		}
		return b(p)
	}
}

// Unregistered names the row that counts calls refused for a method name
// that is not registered (names from the network are not kept: they are
// unbounded).
const Unregistered = "(unregistered)"

// Refused counts a call refused before a handler ran; Option installs it
// with server.WithRefused.
func (st *Stats) Refused(method string, err *ferry.Error) {
	if method == "" {
		method = Unregistered
	}
	m := st.method(st.methods, method)
	m.refused.Add(1)
	m.codesMu.Lock()
	m.rcodes[err.Code]++
	m.codesMu.Unlock()
	st.tick(time.Now().Unix(), true)
}

// Interceptor returns the server interceptor that records every call a
// handler runs: its handler time (from the interceptor to the handler's
// return, interceptors installed after this one included), its time since
// its message was read (decoding, waiting for a handler slot, and the
// handler), its error code, the calls in flight, and its connection's
// counts.
func (st *Stats) Interceptor() ferry.ServerInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		m := st.method(st.methods, info.Method)
		cc := st.conn(server.PeerFromContext(ctx))
		m.inFlight.Add(1)
		t0 := time.Now()
		reply, err := next(ctx, args)
		end := time.Now()
		if !info.Received.IsZero() {
			m.read.Record(end.Sub(info.Received))
		}
		m.finish(end.Sub(t0), err)
		st.all.Record(end.Sub(t0))
		if ferry.CodeOf(err) == ferry.CodePermissionDenied {
			st.denied.Add(1)
		}
		if cc != nil {
			cc.calls.Add(1)
			if err != nil {
				cc.errors.Add(1)
			}
		}
		st.tick(end.Unix(), err != nil)
		return reply, err
	}
}

// ClientInterceptor returns a client interceptor that records the calls a
// side makes (install it with client.WithInterceptors, or
// server.WithClientInterceptors for calls through a Peer): per method,
// their count, errors by code and round-trip latency, shown as "calls
// made" on the page.
func (st *Stats) ClientInterceptor() ferry.ClientInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
		m := st.method(st.client, info.Method)
		m.inFlight.Add(1)
		t0 := time.Now()
		err := next(ctx, info, args, reply)
		m.finish(time.Since(t0), err)
		return err
	}
}

// finish counts one call that ran and took d.
func (m *methodStats) finish(d time.Duration, err error) {
	m.inFlight.Add(-1)
	m.calls.Add(1)
	m.hist.Record(d)
	if err != nil {
		m.errors.Add(1)
		code := ferry.CodeOf(err)
		m.codesMu.Lock()
		m.codes[code]++
		m.codesMu.Unlock()
	}
}

// conn returns the counters of p's connection; nil without a peer.
func (st *Stats) conn(p *server.Peer) *connCounts {
	if p == nil {
		return nil
	}
	st.connMu.Lock()
	defer st.connMu.Unlock()
	cc := st.conns[p]
	if cc == nil {
		if len(st.conns) >= max(maxClosedConns, st.connsDrop) {
			st.dropClosed()
			st.connsDrop = 2 * len(st.conns)
		}
		cc = &connCounts{}
		st.conns[p] = cc
	}
	return cc
}

// dropClosed forgets the counters of connections that ended; under connMu.
func (st *Stats) dropClosed() {
	for p := range st.conns {
		select {
		case <-p.Done():
			delete(st.conns, p)
		default:
		}
	}
}

// method returns name's statistics in table, which is st.methods or
// st.client.
func (st *Stats) method(table map[string]*methodStats, name string) *methodStats {
	st.mu.RLock()
	m := table[name]
	st.mu.RUnlock()
	if m != nil {
		return m
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if m = table[name]; m == nil {
		m = &methodStats{codes: map[ferry.Code]uint64{}, rcodes: map[ferry.Code]uint64{}}
		table[name] = m
	}
	return m
}

// tick counts one finished call in the second unix.
func (st *Stats) tick(unix int64, failed bool) {
	s := &st.secs[unix%window]
	if s.unix.Load() != unix {
		st.rollMu.Lock()
		if s.unix.Load() != unix {
			s.calls.Store(0)
			s.errors.Store(0)
			s.unix.Store(unix)
		}
		st.rollMu.Unlock()
	}
	s.calls.Add(1)
	if failed {
		s.errors.Add(1)
	}
}

// Bucket is one bar of a latency histogram: Count observations in
// [Lo, Hi).
type Bucket = hist.Bucket

// Snapshot is a copy of the statistics at one moment.
type Snapshot struct {
	Uptime  time.Duration `json:"uptime_ns"`
	Methods []MethodStats `json:"methods"`                  // calls served; handler time
	Client  []MethodStats `json:"client_methods,omitempty"` // calls made (ClientInterceptor); round-trip time
	Rate    []RatePoint   `json:"rate"`                     // the last 60 seconds, oldest first, the current second last
	// Latency is the handler time of all methods together, in 20
	// log-scaled buckets (hist.Histogram.Log) once a call has finished;
	// before that it is empty ([] in JSON, not null): there are no
	// times to scale buckets by.
	Latency []Bucket      `json:"latency"`
	Conns   []ConnStats   `json:"conns,omitempty"`
	Streams []StreamStats `json:"streams,omitempty"` // streaming methods
	// Denied counts the calls and streams refused with permission_denied:
	// by an authorization policy (auth.Policy's interceptors, installed
	// after Stats' so that Stats sees their refusals) or a handler.
	Denied uint64 `json:"denied"`
}

// ConnStats describes one open connection of the server.
type ConnStats struct {
	Remote   string    `json:"remote"`
	Protocol string    `json:"protocol"` // "session" (Ferry) or "msgpack-rpc" (bare); "" while sniffing
	Since    time.Time `json:"since"`
	// Streams counts the streaming calls the client opened on it whose
	// handler is running (server.ConnInfo.StreamingCalls); 0 once they
	// have all closed.
	Streams int `json:"streams"`
	// CallStreams counts its call streams, which carry the unary calls (a
	// Ferry client opens one a session; a MessagePack-RPC connection is
	// one): server.ConnInfo.Streams.
	CallStreams int    `json:"call_streams"`
	Running     int    `json:"running"` // unary handlers running for it
	Calls       uint64 `json:"calls"`   // unary calls its handlers finished
	Errors      uint64 `json:"errors"`  // of which failed
}

// MethodStats are one method's numbers. Kind is empty for a method that
// has calls but is no longer registered, and for the Unregistered row.
// Calls, Errors, Codes and the latencies are of the calls that ran: for a
// server, the handler time; for calls made, the round trip. Refused counts
// the calls refused before a handler ran (undecodable or unfitting
// arguments, an unknown method, a limit, authentication, shutdown), by
// code in RefusedCodes; they are not in Calls.
type MethodStats struct {
	Name         string            `json:"name"`
	Kind         string            `json:"kind"`
	Calls        uint64            `json:"calls"`
	Errors       uint64            `json:"errors"`
	InFlight     int64             `json:"in_flight"`
	Codes        map[string]uint64 `json:"codes,omitempty"` // errors by code name
	Refused      uint64            `json:"refused"`
	RefusedCodes map[string]uint64 `json:"refused_codes,omitempty"`
	P50          time.Duration     `json:"p50_ns"`
	P90          time.Duration     `json:"p90_ns"`
	P99          time.Duration     `json:"p99_ns"`
	Max          time.Duration     `json:"max_ns"`
	// Since the message was read: decoding, queueing for a handler slot
	// and the handler; served methods only.
	SinceReadP50 time.Duration `json:"since_read_p50_ns"`
	SinceReadP99 time.Duration `json:"since_read_p99_ns"`
}

// RatePoint is the number of calls (and of failed calls) that finished in
// the second starting at Time.
type RatePoint struct {
	Time   time.Time `json:"time"`
	Calls  uint64    `json:"calls"`
	Errors uint64    `json:"errors"`
}

// Snapshot returns the current numbers; when s is not nil, every method
// registered on s is listed (with zero calls if it has none) and s's
// connections are included.
func (st *Stats) Snapshot(s *server.Server) Snapshot {
	now := time.Now()
	snap := Snapshot{Uptime: now.Sub(st.start), Latency: st.all.Log(20), Denied: st.denied.Load()}
	if snap.Latency == nil {
		snap.Latency = []Bucket{} // "latency": [], which a reader can iterate
	}
	kinds := map[string]string{}
	streamKinds := map[string]string{}
	if s != nil {
		for _, mi := range s.Methods() {
			if mi.Kind == "unary" {
				kinds[mi.Name] = mi.Kind
			} else {
				streamKinds[mi.Name] = mi.Kind
			}
		}
		counts := st.connCounts()
		for _, c := range s.Conns() {
			cs := ConnStats{Protocol: c.Protocol, Since: c.Since, Streams: c.StreamingCalls, CallStreams: c.Streams, Running: c.Running}
			if c.RemoteAddr != nil {
				cs.Remote = c.RemoteAddr.String()
				cs.Calls, cs.Errors = counts[cs.Remote][0], counts[cs.Remote][1]
			}
			snap.Conns = append(snap.Conns, cs)
		}
	}
	st.mu.RLock()
	for name, m := range st.methods {
		snap.Methods = append(snap.Methods, m.snapshot(name, kinds[name]))
		delete(kinds, name)
	}
	for name, m := range st.client {
		snap.Client = append(snap.Client, m.snapshot(name, ""))
	}
	st.mu.RUnlock()
	sort.Slice(snap.Client, func(i, j int) bool { return snap.Client[i].Name < snap.Client[j].Name })
	for name, kind := range kinds {
		snap.Methods = append(snap.Methods, MethodStats{Name: name, Kind: kind})
	}
	sort.Slice(snap.Methods, func(i, j int) bool { return snap.Methods[i].Name < snap.Methods[j].Name })
	snap.Streams = st.streams.snapshot(streamKinds)
	cur := now.Unix()
	for u := cur - window + 1; u <= cur; u++ {
		p := RatePoint{Time: time.Unix(u, 0)}
		if sec := &st.secs[u%window]; sec.unix.Load() == u {
			p.Calls, p.Errors = sec.calls.Load(), sec.errors.Load()
		}
		snap.Rate = append(snap.Rate, p)
	}
	return snap
}

// connCounts returns the calls and errors of each open connection by
// remote address, dropping closed connections' counters.
func (st *Stats) connCounts() map[string][2]uint64 {
	st.connMu.Lock()
	defer st.connMu.Unlock()
	st.dropClosed()
	out := make(map[string][2]uint64, len(st.conns))
	for p, cc := range st.conns {
		if a := p.RemoteAddr(); a != nil {
			v := out[a.String()]
			out[a.String()] = [2]uint64{v[0] + cc.calls.Load(), v[1] + cc.errors.Load()}
		}
	}
	return out
}

func (m *methodStats) snapshot(name, kind string) MethodStats {
	ms := MethodStats{
		Name: name, Kind: kind,
		Calls: m.calls.Load(), Errors: m.errors.Load(), InFlight: m.inFlight.Load(), Refused: m.refused.Load(),
		P50: m.hist.Quantile(0.5), P90: m.hist.Quantile(0.9), P99: m.hist.Quantile(0.99), Max: m.hist.Max(),
		SinceReadP50: m.read.Quantile(0.5), SinceReadP99: m.read.Quantile(0.99),
	}
	m.codesMu.Lock()
	for c, n := range m.codes {
		if ms.Codes == nil {
			ms.Codes = map[string]uint64{}
		}
		ms.Codes[c.String()] = n
	}
	for c, n := range m.rcodes {
		if ms.RefusedCodes == nil {
			ms.RefusedCodes = map[string]uint64{}
		}
		ms.RefusedCodes[c.String()] = n
	}
	m.codesMu.Unlock()
	return ms
}
