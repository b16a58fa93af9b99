package wire

import "github.com/ferryrpc/ferry/internal/msgpack"

// This file is the protocol's vocabulary in one place: every reserved
// name, frame type, marker byte, extension key and default limit that
// PROTOCOL.md (at the repository root) specifies. Change the two together.

// First bytes of a connection (PROTOCOL.md section 1, "Connections") and of
// a session stream (section 6, "Streaming calls").
const (
	// SessionByte starts a yamux session: it is yamux's protocol version.
	SessionByte byte = 0x00
	// StreamMarker is the first byte of a streaming call's session stream.
	// No msgpack value starts with it, so a server tells these streams
	// from MessagePack-RPC call streams by it.
	StreamMarker byte = 0xc1
)

// IsArrayStart reports whether b starts a msgpack array (fixarray, array
// 16 or array 32): the first byte of a bare MessagePack-RPC connection
// (PROTOCOL.md section 1) and of a call stream in a session.
func IsArrayStart(b byte) bool { return b&0xf0 == 0x90 || b == 0xdc || b == 0xdd }

// Message types of the MessagePack-RPC spec (PROTOCOL.md section 2,
// "Messages").
const (
	TypeRequest      = 0
	TypeResponse     = 1
	TypeNotification = 2
)

// Frame types of a streaming call beyond the MessagePack-RPC ones
// (PROTOCOL.md section 6, "Streaming calls").
const (
	TypeStreamData = 3 // [3, payload]: one message
	TypeStreamEnd  = 4 // [4]: the sender will send no more messages
)

// Reserved method names (PROTOCOL.md section 4, "Control messages"). They
// are sent only to peers that use extensions.
const (
	// MethodHello is the client's first request on its call stream: it
	// authenticates the connection (PROTOCOL.md section 7, "Security").
	MethodHello = "$ferry.hello"
	// MethodCancel notifies that the caller gave up on a request msgid.
	MethodCancel = "$ferry.cancel"
	// MethodCancelStream notifies that the caller canceled the streaming
	// call on the session stream with that id (section 6).
	MethodCancelStream = "$ferry.cancelstream"
	// MethodGoAway notifies that the sender is shutting down (section 4,
	// "Going away").
	MethodGoAway = "$ferry.goaway"
	// MethodDrained notifies how many requests the sender read before it
	// stopped reading (section 4, "Going away").
	MethodDrained = "$ferry.drained"
	// MethodSettled is a client's answer to $ferry.goaway: every session
	// stream it opened before has been sent ahead of it (section 4,
	// "Going away").
	MethodSettled = "$ferry.settled"
)

// NotificationOnly reports whether method is a reserved method that is
// sent only as a notification: every one but MethodHello. Sent as a
// request, such a method is refused, not executed.
func NotificationOnly(method []byte) bool {
	switch string(method) {
	case MethodCancel, MethodCancelStream, MethodGoAway, MethodDrained, MethodSettled:
		return true
	}
	return false
}

// FirstParam returns the first element of a control message's params,
// which must be an array, and the array's length, scanning nothing past
// that element: a control message's params are never decoded whole (a
// 4 MiB $ferry.hello whose params were 4 Mi nils, decoded into a slice of
// the hello's struct, allocated 96 MiB no budget counted). ok is false
// when params is not an array, is empty, or its first element is not one
// whole, bounded value.
func FirstParam(params []byte) (first []byte, n int, ok bool) {
	n, hdr, ok := msgpack.ArrayLen(params)
	if !ok || n == 0 {
		return nil, n, false
	}
	l, err := msgpack.Validate(params[hdr:])
	if err != nil {
		return nil, n, false
	}
	return params[hdr : hdr+l], n, true
}

// Keys of the Ferry extension maps (PROTOCOL.md section 3, "Extensions").
const (
	extTimeout     = "t" // request: relative deadline in nanoseconds
	extMetadata    = "m" // request: map of str → str
	extCode        = "c" // response: error code
	extDetails     = "d" // response: map of str → str
	extNotExecuted = "n" // response: true when no handler ran
)

// Default limits (PROTOCOL.md section 5, "Limits and malformed input");
// transport.DefaultConfig takes its defaults from them. The depth is
// internal/msgpack's MaxDepth (64), which codec's Unmarshal applies too.
const (
	DefaultMaxMessage = 4 << 20 // bytes in one message
	// MinMaxMessage is the least message limit a side can be configured
	// with (transport.Config), and the least a peer's hello is taken to
	// say (PeerMax.Learn): what a hello's answer and an error reply need.
	MinMaxMessage   = 1 << 10
	DefaultMaxDepth = msgpack.MaxDepth // nesting of msgpack containers
	// MinMaxDepth is the least MaxDepth a side can be configured with,
	// and the least a peer's hello is taken to say (PeerMax.LearnDepth):
	// an error reply nests 3 levels deep.
	MinMaxDepth = 4
	// UnauthMaxMessage bounds messages on a connection that has not
	// authenticated yet (PROTOCOL.md section 7, "Security").
	UnauthMaxMessage = 4 << 10
)
