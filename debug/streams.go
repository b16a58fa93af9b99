package debug

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/hist"
)

// streamTable counts the streaming calls a server handles, per method.
type streamTable struct {
	mu      sync.RWMutex
	methods map[string]*streamMethodStats
}

type streamMethodStats struct {
	open     atomic.Int64
	opened   atomic.Uint64
	recv     atomic.Uint64 // messages the handlers received
	sent     atomic.Uint64 // messages the handlers sent
	errors   atomic.Uint64
	hist     hist.Histogram // stream durations
	codesMu  sync.Mutex
	codes    map[ferry.Code]uint64
	kindName string
}

// StreamStats are one streaming method's numbers.
type StreamStats struct {
	Name     string            `json:"name"`
	Kind     string            `json:"kind"`     // "bidi", "server" or "client"
	Open     int64             `json:"open"`     // streams open now
	Opened   uint64            `json:"opened"`   // streams opened since the start
	Received uint64            `json:"received"` // messages the handlers received
	Sent     uint64            `json:"sent"`     // messages the handlers sent
	Errors   uint64            `json:"errors"`   // streams that ended with an error
	Codes    map[string]uint64 `json:"codes,omitempty"`
	P50      time.Duration     `json:"p50_ns"` // stream durations
	P90      time.Duration     `json:"p90_ns"`
	P99      time.Duration     `json:"p99_ns"`
	Max      time.Duration     `json:"max_ns"`
}

// StreamInterceptor returns the stream interceptor that records every
// streaming call: streams open now and opened, messages each way, errors
// by code and durations; a stream that ends with permission_denied (an
// authorization policy's stream interceptor installed after this one, or
// the handler) is also counted in Snapshot.Denied. Option installs it
// along with Interceptor.
func (st *Stats) StreamInterceptor() ferry.StreamServerInterceptor {
	return func(ctx context.Context, info *ferry.StreamInfo, ss ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		m := st.streams.method(info.Method, info.Kind.String())
		m.open.Add(1)
		m.opened.Add(1)
		t0 := time.Now()
		res, err := next(ctx, &countedStream{ServerStream: ss, m: m})
		m.open.Add(-1)
		m.hist.Record(time.Since(t0))
		if err != nil {
			code := ferry.CodeOf(err)
			m.errors.Add(1)
			m.codesMu.Lock()
			m.codes[code]++
			m.codesMu.Unlock()
			if code == ferry.CodePermissionDenied {
				st.denied.Add(1) // a denied stream is a call denied, as a unary one is
			}
		}
		return res, err
	}
}

type countedStream struct {
	ferry.ServerStream
	m *streamMethodStats
}

func (s *countedStream) Send(v any) error {
	err := s.ServerStream.Send(v)
	if err == nil {
		s.m.sent.Add(1)
	}
	return err
}

func (s *countedStream) Recv(v any) error {
	err := s.ServerStream.Recv(v)
	if err == nil {
		s.m.recv.Add(1)
	}
	return err
}

func (t *streamTable) method(name, kind string) *streamMethodStats {
	t.mu.RLock()
	m := t.methods[name]
	t.mu.RUnlock()
	if m != nil {
		return m
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.methods == nil {
		t.methods = map[string]*streamMethodStats{}
	}
	if m = t.methods[name]; m == nil {
		m = &streamMethodStats{codes: map[ferry.Code]uint64{}, kindName: kind}
		t.methods[name] = m
	}
	return m
}

// snapshot lists the streaming methods, those registered on s (kinds:
// name to kind, from s.Methods) with no stream yet included.
func (t *streamTable) snapshot(kinds map[string]string) []StreamStats {
	var out []StreamStats
	seen := map[string]bool{}
	t.mu.RLock()
	for name, m := range t.methods {
		seen[name] = true
		ss := StreamStats{
			Name: name, Kind: m.kindName, Open: m.open.Load(), Opened: m.opened.Load(),
			Received: m.recv.Load(), Sent: m.sent.Load(), Errors: m.errors.Load(),
			P50: m.hist.Quantile(0.5), P90: m.hist.Quantile(0.9), P99: m.hist.Quantile(0.99), Max: m.hist.Max(),
		}
		m.codesMu.Lock()
		for c, n := range m.codes {
			if ss.Codes == nil {
				ss.Codes = map[string]uint64{}
			}
			ss.Codes[c.String()] = n
		}
		m.codesMu.Unlock()
		out = append(out, ss)
	}
	t.mu.RUnlock()
	for name, kind := range kinds {
		if kind != "unary" && kind != "" && !seen[name] {
			out = append(out, StreamStats{Name: name, Kind: kind})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
