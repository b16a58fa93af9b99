package debug

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
)

// window is how many seconds of per-second call counts Stats keeps.
const window = 60

// Stats counts the calls a server handles, per method. Install its
// interceptor with Option (or Interceptor) when creating the server; it is
// safe for concurrent use. Streaming calls are not counted: interceptors
// do not see them.
type Stats struct {
	start   time.Time
	mu      sync.RWMutex
	methods map[string]*methodStats
	all     Histogram
	denied  atomic.Uint64 // calls that ended with CodePermissionDenied
	rollMu  sync.Mutex
	secs    [window]second
}

type methodStats struct {
	calls    atomic.Uint64
	errors   atomic.Uint64
	inFlight atomic.Int64
	hist     Histogram
	codesMu  sync.Mutex
	codes    map[ferry.Code]uint64
}

// second holds the calls that finished in one wall-clock second.
type second struct {
	unix   atomic.Int64
	calls  atomic.Uint64
	errors atomic.Uint64
}

// New returns empty statistics.
func New() *Stats {
	return &Stats{start: time.Now(), methods: map[string]*methodStats{}}
}

// Option installs the statistics' interceptor on a server:
//
//	st := debug.New()
//	s := server.New(st.Option())
//	http.Handle("/debug/ferry", st.Handler(s))
func (st *Stats) Option() server.Option { return server.WithInterceptors(st.Interceptor()) }

// Interceptor returns the server interceptor that records every call: its
// duration, its error code and the calls in flight.
func (st *Stats) Interceptor() ferry.ServerInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		m := st.method(info.Method)
		m.inFlight.Add(1)
		t0 := time.Now()
		reply, err := next(ctx, args)
		end := time.Now()
		d := end.Sub(t0)
		m.inFlight.Add(-1)
		m.calls.Add(1)
		m.hist.Record(d)
		st.all.Record(d)
		if err != nil {
			m.errors.Add(1)
			code := ferry.CodeOf(err)
			if code == ferry.CodePermissionDenied {
				st.denied.Add(1)
			}
			m.codesMu.Lock()
			m.codes[code]++
			m.codesMu.Unlock()
		}
		st.tick(end.Unix(), err != nil)
		return reply, err
	}
}

func (st *Stats) method(name string) *methodStats {
	st.mu.RLock()
	m := st.methods[name]
	st.mu.RUnlock()
	if m != nil {
		return m
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if m = st.methods[name]; m == nil {
		m = &methodStats{codes: map[ferry.Code]uint64{}}
		st.methods[name] = m
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

// Snapshot is a copy of the statistics at one moment.
type Snapshot struct {
	Uptime  time.Duration `json:"uptime_ns"`
	Methods []MethodStats `json:"methods"`
	Rate    []RatePoint   `json:"rate"`    // the last 60 seconds, oldest first, the current second last
	Latency []Bucket      `json:"latency"` // all methods together, in 20 equal-width buckets
	Conns   []ConnStats   `json:"conns,omitempty"`
	// Denied counts the calls refused with permission_denied: by an
	// authorization policy (auth.Policy's interceptor, installed after
	// Stats' interceptor so that Stats sees its refusals) or a handler.
	Denied uint64 `json:"denied"`
}

// ConnStats describes one open connection of the server.
type ConnStats struct {
	Remote   string    `json:"remote"`
	Protocol string    `json:"protocol"` // "session" (Ferry) or "msgpack-rpc" (bare); "" while sniffing
	Since    time.Time `json:"since"`
	Streams  int       `json:"streams"` // call streams open on it
	Running  int       `json:"running"` // handlers running for it
}

// MethodStats are one method's numbers. Kind is empty for a method that
// has calls but is no longer registered.
type MethodStats struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`
	Calls    uint64            `json:"calls"`
	Errors   uint64            `json:"errors"`
	InFlight int64             `json:"in_flight"`
	Codes    map[string]uint64 `json:"codes,omitempty"` // errors by code name
	P50      time.Duration     `json:"p50_ns"`
	P90      time.Duration     `json:"p90_ns"`
	P99      time.Duration     `json:"p99_ns"`
	Max      time.Duration     `json:"max_ns"`
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
	snap := Snapshot{Uptime: now.Sub(st.start), Latency: st.all.Linear(20), Denied: st.denied.Load()}
	kinds := map[string]string{}
	if s != nil {
		for _, mi := range s.Methods() {
			kinds[mi.Name] = mi.Kind
		}
		for _, c := range s.Conns() {
			cs := ConnStats{Protocol: c.Protocol, Since: c.Since, Streams: c.Streams, Running: c.Running}
			if c.RemoteAddr != nil {
				cs.Remote = c.RemoteAddr.String()
			}
			snap.Conns = append(snap.Conns, cs)
		}
	}
	st.mu.RLock()
	for name, m := range st.methods {
		snap.Methods = append(snap.Methods, m.snapshot(name, kinds[name]))
		delete(kinds, name)
	}
	st.mu.RUnlock()
	for name, kind := range kinds {
		snap.Methods = append(snap.Methods, MethodStats{Name: name, Kind: kind})
	}
	sort.Slice(snap.Methods, func(i, j int) bool { return snap.Methods[i].Name < snap.Methods[j].Name })
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

func (m *methodStats) snapshot(name, kind string) MethodStats {
	ms := MethodStats{
		Name: name, Kind: kind,
		Calls: m.calls.Load(), Errors: m.errors.Load(), InFlight: m.inFlight.Load(),
		P50: m.hist.Quantile(0.5), P90: m.hist.Quantile(0.9), P99: m.hist.Quantile(0.99), Max: m.hist.Max(),
	}
	m.codesMu.Lock()
	for c, n := range m.codes {
		if ms.Codes == nil {
			ms.Codes = map[string]uint64{}
		}
		ms.Codes[c.String()] = n
	}
	m.codesMu.Unlock()
	return ms
}
