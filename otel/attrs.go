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
	start       []attribute.KeyValue
	serverStart []trace.SpanStartOption
	clientStart []trace.SpanStartOption
	sets        [nCodes]atomic.Pointer[[]metric.RecordOption]
	streamSets  sync.Map // streamKey -> []metric.RecordOption
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
		start:       start,
		serverStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(start...)},
		clientStart: []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(start...)},
	}
}

// record returns the options that record a measurement for code, as a
// ready slice so that passing them allocates nothing.
func (m *methodAttrs) record(c ferry.Code) []metric.RecordOption {
	if int(c) >= nCodes {
		return m.build(c)
	}
	if p := m.sets[c].Load(); p != nil {
		return *p
	}
	o := m.build(c)
	m.sets[c].Store(&o)
	return o
}

func (m *methodAttrs) build(c ferry.Code) []metric.RecordOption {
	kvs := append(append([]attribute.KeyValue{}, m.start...), statusKVs(c)...)
	return []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
}

// streamRecord returns the options that record a stream measurement
// (messages or bytes in one direction) for code and kind, built once.
func (m *methodAttrs) streamRecord(c ferry.Code, kind ferry.StreamKind, dir string) []metric.RecordOption {
	k := streamKey{c, kind, dir}
	if v, ok := m.streamSets.Load(k); ok {
		return v.([]metric.RecordOption)
	}
	kvs := append(append([]attribute.KeyValue{}, m.start...), statusKVs(c)...)
	kvs = append(kvs, StreamKindKey.String(kind.String()), StreamDirectionKey.String(dir))
	o := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(kvs...))}
	if int(c) >= nCodes || kind < ferry.BidiStreaming || kind > ferry.ClientStreaming {
		return o // not cached: the set of such keys is not bounded
	}
	v, _ := m.streamSets.LoadOrStore(k, o)
	return v.([]metric.RecordOption)
}

// attrCache maps method names to their attributes.
type attrCache struct {
	m sync.Map // string -> *methodAttrs
	n atomic.Int32
}

func (a *attrCache) method(name string) *methodAttrs {
	if v, ok := a.m.Load(name); ok {
		return v.(*methodAttrs)
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
