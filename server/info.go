package server

import (
	"net"
	"reflect"
	"sort"
	"time"
)

// MethodInfo describes one registered method, for introspection.
type MethodInfo struct {
	Name  string       // "Service.Method"
	Kind  string       // "unary", or a StreamKind's String: "bidi", "server", "client"
	Args  reflect.Type // the arguments' type (for a stream: each request message's); nil when untyped
	Reply reflect.Type // the reply's type (for a stream: each response message's); nil when untyped
}

// Methods lists the registered methods, sorted by name.
func (s *Server) Methods() []MethodInfo {
	var out []MethodInfo
	for _, m := range s.reg.All() {
		out = append(out, MethodInfo{Name: m.Name, Kind: m.KindName(), Args: m.ArgsType, Reply: m.ReplyType})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ConnInfo describes one open connection, for introspection.
type ConnInfo struct {
	RemoteAddr net.Addr
	Protocol   string    // "session" (Ferry) or "msgpack-rpc" (bare); "" while sniffing
	Since      time.Time // when it was accepted
	// Streams counts its call streams: the streams carrying unary calls
	// (a Ferry client opens one a session, a MessagePack-RPC connection
	// is one), not streaming calls.
	Streams int
	// StreamingCalls counts the streaming calls the client opened on it
	// whose handler is running (a session stream each).
	StreamingCalls int
	Running        int   // unary handlers running for it (StreamingCalls counts the streaming ones)
	Memory         int64 // bytes charged to its memory budget now
	// QuietSince is when the connection became quiet: nothing arrived on
	// it for a while (at least 250 ms), no call in progress either way, no
	// stream open but its call streams. Zero while it is not quiet. At a
	// connection bound (WithConnLimits), quiet connections make room.
	QuietSince time.Time
}

// Conns lists the open connections.
func (s *Server) Conns() []ConnInfo {
	s.mu.Lock()
	conns := make([]*netConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		c.mu.Lock()
		ci := ConnInfo{RemoteAddr: c.nc.RemoteAddr(), Protocol: c.proto, Since: c.since, Streams: len(c.engines), StreamingCalls: int(c.streamCalls.Load()), Memory: c.budget.Used()}
		c.mu.Unlock()
		for _, e := range c.snapshot() {
			ci.Running += e.Running()
		}
		ci.QuietSince, _ = c.quietSince()
		out = append(out, ci)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out
}
