package ferry

import (
	"context"
	"fmt"
)

// StreamKind says which way messages flow in a streaming method. It is a
// declaration, reported by introspection and to stream interceptors: on
// the wire every streaming call is the same bidirectional stream.
type StreamKind int

// The streaming kinds.
const (
	BidiStreaming   StreamKind = iota + 1 // both sides send any number of messages
	ServerStreaming                       // one request, many responses
	ClientStreaming                       // many requests, one response (the handler's result)
)

// String returns "bidi", "server" or "client".
func (k StreamKind) String() string {
	switch k {
	case BidiStreaming:
		return "bidi"
	case ServerStreaming:
		return "server"
	case ClientStreaming:
		return "client"
	}
	return fmt.Sprintf("StreamKind(%d)", int(k))
}

// StreamInfo describes the streaming call a stream interceptor sees.
type StreamInfo struct {
	Method string     // the canonical "Service.Method" as registered or called
	Kind   StreamKind // on the serving side, the kind the method was registered with; on the calling side, the kind the caller opened (BidiStreaming for an untyped stream)
}

// ServerStream is the serving end of a streaming call as a stream
// interceptor sees it. Recv returns io.EOF once the caller closed its
// sending side. An interceptor may pass the handler a ServerStream of its
// own that wraps st, to observe or transform each message.
type ServerStream interface {
	Context() context.Context
	Send(m any) error
	Recv(m any) error
}

// StreamHandler runs a streaming call on the serving side: its result is
// sent as the stream's result, its error as the stream's status.
type StreamHandler func(ctx context.Context, st ServerStream) (result any, err error)

// StreamServerInterceptor wraps every incoming streaming call before its
// handler runs. It sees the method, the kind and, through ctx, the
// metadata (IncomingMetadata). It must call next to run the handler, with
// st or a ServerStream wrapping it; an error returned without calling next
// refuses the stream, and the caller gets it with its code and
// NotExecuted true. A handler that panics makes next return the failure
// its caller gets (CodeInternal): the panic does not unwind through the
// interceptors.
type StreamServerInterceptor func(ctx context.Context, info *StreamInfo, st ServerStream, next StreamHandler) (result any, err error)

// ClientStream is the calling end of a streaming call as a stream
// interceptor sees it. Recv returns io.EOF once the handler finished
// successfully; Result then decodes its result.
type ClientStream interface {
	Context() context.Context
	Send(m any) error
	CloseSend() error
	Recv(m any) error
	Result(v any) error
	Close() error
}

// Streamer opens a streaming call.
type Streamer func(ctx context.Context, info *StreamInfo) (ClientStream, error)

// StreamClientInterceptor wraps every outgoing streaming call as it opens.
// It sees the method, the kind and, through ctx, the outgoing metadata
// (WithOutgoingMetadata, which it may extend for next). It must call next
// to open the stream and may return a ClientStream wrapping the one next
// returns, to observe or transform each message; an error returned
// without calling next refuses the stream: the caller gets it with
// NotExecuted true. An error (or a nil stream) returned after next opened
// the stream closes that stream, cancelling its call; the caller gets the
// error without NotExecuted, since the handler may have started.
type StreamClientInterceptor func(ctx context.Context, info *StreamInfo, next Streamer) (ClientStream, error)

// ChainStreamServer folds stream interceptors into one, the first
// outermost. It returns nil for an empty list.
func ChainStreamServer(ics ...StreamServerInterceptor) StreamServerInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, info *StreamInfo, st ServerStream, next StreamHandler) (any, error) {
		h := next
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], h
			h = func(ctx context.Context, st ServerStream) (any, error) { return ic(ctx, info, st, inner) }
		}
		return h(ctx, st)
	}
}

// ChainStreamClient folds stream interceptors into one, the first
// outermost. It returns nil for an empty list.
func ChainStreamClient(ics ...StreamClientInterceptor) StreamClientInterceptor {
	switch len(ics) {
	case 0:
		return nil
	case 1:
		return ics[0]
	}
	return func(ctx context.Context, info *StreamInfo, next Streamer) (ClientStream, error) {
		s := next
		for i := len(ics) - 1; i >= 0; i-- {
			ic, inner := ics[i], s
			s = func(ctx context.Context, info *StreamInfo) (ClientStream, error) { return ic(ctx, info, inner) }
		}
		return s(ctx, info)
	}
}

// StreamOpener opens streaming calls, in either direction: a
// client.Client opens them to its server's handlers, a server.Peer to the
// streaming handlers its client registered, and a cluster.Client on an
// endpoint its balancer picks. The typed openers (client.OpenBidi,
// client.OpenServerStream, client.OpenClientStream) take any of them. kind
// is what stream interceptors see (the wire carries every kind the same
// way).
type StreamOpener interface {
	OpenStream(ctx context.Context, method string, kind StreamKind) (ClientStream, error)
}

// WireCounter is implemented by the ServerStream and ClientStream that
// Ferry hands to its stream interceptors (before any interceptor wraps
// them): the bytes the stream has carried each way so far, frames
// included. An interceptor that wants sizes type-asserts the stream it was
// given; a wrapper installed by another interceptor hides it.
type WireCounter interface {
	WireBytes() (sent, received int64)
}
