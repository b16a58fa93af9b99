// Package wire frames and parses MessagePack-RPC messages without trusting
// the bytes: a Reader finds where each message ends while enforcing a size
// and nesting bound, and never allocates a declared length before the
// bytes behind it have arrived; Parse then splits a complete message into
// its envelope fields without reflection (ParseScanned without walking it
// again, at the places the Reader's scanner found them). Append* functions write envelopes
// by hand. The format is documented in PROTOCOL.md at the repository root.
//
// With direct bodies (Reader.SetDirect) a Reader hands over the head of a
// request or response whose payload is one large bin once the bin's
// header has passed the size bound (after one more read when the head
// came without any of its body), so that its caller can read the body
// straight into the destination: the caller then allocates the declared
// length, which the bound and its own budget have already limited.
package wire
