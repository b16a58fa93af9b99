package msgpack

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
)

// Extension payloads are opaque to validation, so msgpack must never parse
// one as msgpack: it would trust declared lengths nobody checked. msgpack
// v5.4.1 does exactly that when it decodes a map (DecodeMapLen, used by
// every map type) and finds an extension value: it skips the extension's
// header and parses the payload as the map, so ten bytes can declare an
// array of 2^32 elements (DESIGN.md section 4).
//
// The Decoder's reader therefore refuses to hand out a msgpack code
// (ReadByte, the only way msgpack starts a value) from inside a payload.
// Decoders that take a payload as bytes (time.Time, types registered with
// vmsgpack.RegisterExt, skipping, Raw) read it with Read and are not
// affected. An empty payload has no byte to guard: the byte after it is
// the next value's header. msgpack misreads an empty extension only when
// that next value is a map or nil, so that case is refused before
// decoding.

// errEmptyExt is wrapped when an empty extension value is followed by a
// map or nil.
var errEmptyExt = errors.New("empty extension value followed by a map or nil")

// extSpans appends the payload spans of the extension values in b to dst,
// and refuses the empty ones msgpack would misread.
func extSpans(dst []Span, b []byte) ([]Span, error) {
	dst = ExtPayloads(dst, b)
	for _, s := range dst {
		if s.Start != s.End || s.End >= len(b) {
			continue
		}
		if c := b[s.End]; c&0xf0 == 0x80 || c == 0xde || c == 0xdf || c == 0xc0 {
			return dst, fmt.Errorf("%w: type %d, payload at byte %d", errEmptyExt, int8(b[s.Start-1]), s.Start)
		}
	}
	return dst, nil
}

// inPayload returns an error when off lies inside one of the sorted,
// disjoint spans.
func inPayload(spans []Span, b []byte, off int) error {
	i, _ := slices.BinarySearchFunc(spans, off, func(s Span, off int) int {
		return cmp.Compare(s.End, off+1) // the first span ending after off
	})
	if i < len(spans) && spans[i].Start <= off {
		s := spans[i]
		return fmt.Errorf("extension type %d, payload at byte %d: cannot decode it as msgpack",
			int8(b[s.Start-1]), s.Start)
	}
	return nil
}
