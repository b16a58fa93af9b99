package otel

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// maxCachedMethods bounds the per-method attribute cache; methods beyond
// it get their attributes built per call.
const maxCachedMethods = 1024

// nCodes covers 0 (OK) and every defined code.
const nCodes = 17

// statusNames holds rpc.response.status_code values: "OK" and the codes'
// names in upper case, as gRPC spells them ("INVALID_ARGUMENT").
var statusNames = func() [nCodes]string {
	var names [nCodes]string
	names[0] = "OK"
	for c := ferry.Code(1); c.Valid() && int(c) < nCodes; c++ {
		names[c] = strings.ToUpper(c.String())
	}
	return names
}()

func statusName(c ferry.Code) string {
	if int(c) < nCodes {
		return statusNames[c]
	}
	return strings.ToUpper(c.String())
}

// statusKVs are the span attributes for each code: rpc.response.status_code
// and, for failures, error.type (the same name).
var statusKV = func() [nCodes][]attribute.KeyValue {
	var kvs [nCodes][]attribute.KeyValue
	for i := range kvs {
		name := statusNames[i]
		kvs[i] = []attribute.KeyValue{semconv.RPCResponseStatusCode(name)}
		if i > 0 {
			kvs[i] = append(kvs[i], semconv.ErrorTypeKey.String(name))
		}
	}
	return kvs
}()

func statusKVs(c ferry.Code) []attribute.KeyValue {
	if int(c) < nCodes {
		return statusKV[c]
	}
	name := statusName(c)
	return []attribute.KeyValue{semconv.RPCResponseStatusCode(name), semconv.ErrorTypeKey.String(name)}
}

// methodAttrs holds one method's precomputed attributes: a span's start
// options and, built on first use, a metric attribute set per code, which
// spares allocations and the SDK's sorting of attributes on every call.
type methodAttrs struct {
	name        string
	start       []attribute.KeyValue
	serverStart []trace.SpanStartOption
	clientStart []trace.SpanStartOption
	codes       [nCodes]atomic.Pointer[codeAttrs]
	streamSets  sync.Map // streamKey -> *codeAttrs
}

// codeAttrs is what records one measurement with a given attribute set:
// the options for an SDK instrument, and the series of the interceptor's
// Metrics histogram (nil without WithMetrics).
type codeAttrs struct {
	set  attribute.Set
	opts []metric.RecordOption
	own  *series
}

func newCodeAttrs(kvs []attribute.KeyValue, h *histogram) *codeAttrs {
	set := attribute.NewSet(kvs...)
	ca := &codeAttrs{set: set, opts: []metric.RecordOption{metric.WithAttributeSet(set)}}
	if h != nil {
		ca.own = h.get(set)
	}
	return ca
}

// streamKey selects a stream measurement's attribute set.
type streamKey struct {
	code ferry.Code
	kind ferry.StreamKind
	dir  string // streamDirectionSent or streamDirectionRecvd
}

func newMethodAttrs(name string) *methodAttrs {
	start := []attribute.KeyValue{semconv.RPCSystemNameKey.String(SystemName), semconv.RPCMethod(name)}
	return &methodAttrs{
		name:        name,
		start:       start,
		serverStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(start...)},
		clientStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(start...)},
	}
}

// record returns what records a duration for code: built once per code,
// so that recording allocates nothing. h is the interceptor's Metrics
// histogram, or nil; it is the same on every call for one methodAttrs.
func (m *methodAttrs) record(c ferry.Code, h *histogram) *codeAttrs {
	if int(c) >= nCodes {
		return m.build(c, h)
	}
	if p := m.codes[c].Load(); p != nil {
		return p
	}
	ca := m.build(c, h)
	m.codes[c].Store(ca)
	return ca
}

func (m *methodAttrs) build(c ferry.Code, h *histogram) *codeAttrs {
	return newCodeAttrs(append(append([]attribute.KeyValue{}, m.start...), statusKVs(c)...), h)
}

// streamRecord returns what records a stream measurement (messages or
// bytes in one direction) for code and kind, built once. Its own series,
// if any, is not set: the stream histograms look theirs up by set.
func (m *methodAttrs) streamRecord(c ferry.Code, kind ferry.StreamKind, dir string) *codeAttrs {
	k := streamKey{c, kind, dir}
	if v, ok := m.streamSets.Load(k); ok {
		return v.(*codeAttrs)
	}
	kvs := append(append([]attribute.KeyValue{}, m.start...), statusKVs(c)...)
	kvs = append(kvs, StreamKindKey.String(kind.String()), StreamDirectionKey.String(dir))
	ca := newCodeAttrs(kvs, nil)
	if int(c) >= nCodes || kind < ferry.BidiStreaming || kind > ferry.ClientStreaming {
		return ca // not cached: the set of such keys is not bounded
	}
	v, _ := m.streamSets.LoadOrStore(k, ca)
	return v.(*codeAttrs)
}

// attrCache maps method names to their attributes. The last method
// looked up is kept at hand: an interceptor mostly sees one method after
// another, whose name is then compared, not hashed (the same string each
// time, as Ferry passes them, compares by its pointer).
type attrCache struct {
	m    sync.Map // string -> *methodAttrs
	n    atomic.Int32
	last atomic.Pointer[methodAttrs]
}

func (a *attrCache) method(name string) *methodAttrs {
	if ma := a.last.Load(); ma != nil && ma.name == name {
		return ma
	}
	if v, ok := a.m.Load(name); ok {
		ma := v.(*methodAttrs)
		a.last.Store(ma)
		return ma
	}
	ma := newMethodAttrs(name)
	if a.n.Load() >= maxCachedMethods {
		return ma
	}
	if v, loaded := a.m.LoadOrStore(name, ma); loaded {
		return v.(*methodAttrs)
	}
	a.n.Add(1)
	return ma
}
