// Package wire frames and parses MessagePack-RPC messages without trusting
// the bytes: a Reader finds where each message ends while enforcing a size
// and nesting bound, so no declared length is ever allocated before the
// bytes behind it have arrived; Parse then splits a complete message into
// its envelope fields without reflection. Append* functions write envelopes
// by hand. The format is documented in PROTOCOL.md at the repository root.
package wire
