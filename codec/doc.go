// Package codec serializes Ferry's call arguments and results with
// MessagePack (github.com/vmihailenco/msgpack/v5), and never decodes bytes
// it has not first validated.
//
// The msgpack library trusts declared lengths: decoded blindly, a five-byte
// array header can exhaust memory, and deep nesting overflows the stack.
// Unmarshal therefore walks the bytes once without allocating, rejecting
// declared lengths larger than the bytes that remain and nesting deeper
// than the limit, and recovers from any panic inside the library.
//
// Raw carries a msgpack value through unchanged, so a handler can accept
// and return values of any shape (str and bin kept apart, integer map keys,
// extension types).
package codec
