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
// Extension payloads are opaque to that walk, so Unmarshal never lets
// msgpack parse one as msgpack (msgpack's map decoding would otherwise
// skip an extension's header and trust lengths declared in its payload).
// Extension values still decode where their decoder reads the payload as
// bytes: time.Time, and types registered with msgpack.RegisterExt, whose
// UnmarshalMsgpack receives the payload unvalidated (decode it with
// Unmarshal, never msgpack.Unmarshal). An extension value where a map is
// expected is an error, and so is a zero-length extension value followed
// by a map or nil, unless the target is a Raw.
//
// Decoding never guesses: a value is taken when it fits its Go target
// exactly (an integral float into an int, an integer a float holds
// exactly) and refused otherwise (a fraction or an out-of-range number into
// an integer, a string into a number). The one rounding is a float into a
// float32: taken at the nearest float32 (0.1 is 0.1f), refused past
// float32's range. nil leaves the zero value; a struct
// takes a map keyed by field name or an array of its fields in order, no
// longer than the struct. An any that holds an earlier value (a variable
// reused for the next message, an element or field of one) takes the new
// value in its place, unless it holds a non-nil pointer, which is decoded
// through. Ferry's server decodes call arguments with the same rules.
//
// Decoding allocates in proportion to its input. Into any and its
// containers it allocates at most about 170 bytes per input byte (a
// one-entry map nested in the next, two bytes each); FuzzDecodeAllocation
// holds it to 256. A slice of structs can allocate the struct's size for
// each input byte (a nil element is one byte).
//
// Strings decoded into plain structs, slices and maps may share memory
// with each other, never with the input: they are cut from copies of up
// to 1 KiB of the input, one allocation for all the strings a copy holds,
// so a string kept from a decoded value keeps up to 1 KiB alive (a string
// of 1 KiB or more is a copy of its own).
//
// Raw carries a msgpack value through unchanged, so a handler can accept
// and return values of any shape (str and bin kept apart, integer map keys,
// extension types). A nil arrives as the empty Raw, which is sent as nil
// again.
package codec
