// Package msgpack holds Ferry's MessagePack machinery below the public
// codec: the value-level primitives (a bounded, resumable Scanner, Skip,
// Append* writers and the header readers) and the Decoder and encoder the
// engine uses, with the fast path that compiles a plan per Go type and the
// strict checks that refuse lossy conversions.
//
// Nothing here trusts a declared length: every reader stops at the end of
// its slice, and the Decoder decodes only bytes a Scanner has accepted.
// github.com/vmihailenco/msgpack/v5 decodes what the fast path does not
// cover; it is imported as vmsgpack.
package msgpack
