package engine

import (
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
)

// The CallInfo that client interceptors see for an outgoing call is the
// same for every call of a method: it is made once and shared
// (ferry.CallInfo says interceptors do not modify it), which spares each
// intercepted call an allocation. The names kept are bounded in number
// and length, for a program that calls names it builds; past the bounds
// each call gets its own.

// maxCallInfos bounds the methods whose CallInfo is kept, and
// maxCallInfoName the length of their names.
const (
	maxCallInfos    = 4096
	maxCallInfoName = 256
)

type callInfoKey struct {
	method string
	notify bool
}

var (
	callInfos     sync.Map // callInfoKey -> *ferry.CallInfo
	callInfoCount atomic.Int32
)

// callInfo returns the CallInfo of an outgoing call of method.
func callInfo(method string, notify bool) *ferry.CallInfo {
	k := callInfoKey{method, notify}
	if v, ok := callInfos.Load(k); ok {
		return v.(*ferry.CallInfo)
	}
	ci := &ferry.CallInfo{Method: method, Notify: notify}
	if len(method) > maxCallInfoName || callInfoCount.Load() >= maxCallInfos {
		return ci
	}
	// Kept: its own copy of the name, not a slice of a larger string.
	k.method = strings.Clone(method)
	ci.Method = k.method
	if v, loaded := callInfos.LoadOrStore(k, ci); loaded {
		return v.(*ferry.CallInfo)
	}
	callInfoCount.Add(1)
	return ci
}
