// Package meta holds the metadata a call arrived with as it arrived: a
// MessagePack map of strings, checked when the call is read and decoded
// into a map only when a handler or interceptor asks for the map. A
// connection's read loop then spends one copy on it, not a map and a
// string per entry, and an interceptor looking for one key (a trace
// context) reads that key alone.
package meta

import (
	"errors"
	"sync/atomic"
	"unsafe"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// Key is the context key under which a call's incoming metadata is
// stored: a ferry.Metadata or an *Incoming.
type Key struct{}

// Incoming is the metadata one call arrived with. It is safe for
// concurrent use.
type Incoming struct {
	raw string                            // a map of string to string, checked
	n   int                               // its number of pairs
	m   atomic.Pointer[map[string]string] // raw decoded, once asked for
}

// ErrNotStringMap is returned by Parse for anything but a map of strings
// to strings.
var ErrNotStringMap = errors.New("metadata is not a map of strings")

// Limits on the metadata of one call. Within a message's own limit,
// metadata of many tiny pairs would cost far more as a map than as bytes
// (a 4 MiB message of 700,000 pairs decodes into about 44 MiB), so the
// number of pairs is bounded, and so is the whole, as HTTP servers bound
// headers.
const (
	MaxPairs = 1024     // pairs in one call's metadata
	MaxBytes = 64 << 10 // bytes of one call's encoded metadata
)

// ErrTooMuch is returned by Parse for metadata past MaxPairs or MaxBytes.
var ErrTooMuch = errors.New("metadata has more than 1024 pairs or 64 KiB")

// Parse checks that b is a MessagePack map of strings to strings (nil
// counts as empty) and returns it as an Incoming that owns a copy of b,
// or nil when it holds no pair. b is not retained. The keys and values
// Get and Map return share that one copy: reading them allocates nothing
// more.
func Parse(b []byte) (*Incoming, error) { return ParseInto(nil, b) }

// ParseInto is Parse into dst, a zero Incoming that the caller keeps
// inside a value of its own (nil: a new one): it returns dst, filled, or
// nil when b holds no pair, and saves Parse's allocation of an Incoming.
func ParseInto(dst *Incoming, b []byte) (*Incoming, error) {
	if len(b) == 1 && b[0] == 0xc0 {
		return nil, nil
	}
	if n, _, ok := msgpack.MapLen(b); ok && n > MaxPairs {
		return nil, ErrTooMuch
	}
	n, end, err := scan(b, nil)
	if err != nil {
		return nil, err
	}
	if end > MaxBytes {
		return nil, ErrTooMuch
	}
	if n == 0 {
		return nil, nil
	}
	if dst == nil {
		dst = new(Incoming)
	}
	dst.raw, dst.n = string(b[:end]), n
	return dst, nil
}

// Clone returns a new Incoming holding the same metadata as in (which
// shares its bytes), for when in lives in a value that is reused.
func (in *Incoming) Clone() *Incoming {
	if in == nil {
		return nil
	}
	return &Incoming{raw: in.raw, n: in.n}
}

// span is where a key or value lies in a map's encoding.
type span struct{ start, end int }

// scan walks the map in b, calling fn (when not nil) with where each
// pair's key and value lie, until it returns false, and returns the
// number of pairs and where the map ends. It allocates nothing.
func scan(b []byte, fn func(key, val span) bool) (n, end int, err error) {
	n, off, ok := msgpack.MapLen(b)
	if !ok {
		return 0, 0, ErrNotStringMap
	}
	for i := 0; i < n; i++ {
		var kv [2]span
		for j := range kv {
			s, l, err := msgpack.ReadString(b[off:])
			if err != nil {
				return 0, 0, ErrNotStringMap
			}
			kv[j] = span{off + l - len(s), off + l}
			off += l
		}
		if fn != nil && !fn(kv[0], kv[1]) {
			break
		}
	}
	return n, off, nil
}

// bytes returns a read-only view of in.raw for scan.
func (in *Incoming) bytes() []byte { return unsafe.Slice(unsafe.StringData(in.raw), len(in.raw)) }

// Len returns the number of pairs.
func (in *Incoming) Len() int {
	if in == nil {
		return 0
	}
	return in.n
}

// Map returns the pairs as a map, decoded on the first call and shared by
// every later one: it must not be modified.
func (in *Incoming) Map() map[string]string {
	if in == nil {
		return nil
	}
	if p := in.m.Load(); p != nil {
		return *p
	}
	m := make(map[string]string, in.n)
	_, _, _ = scan(in.bytes(), func(k, v span) bool {
		m[in.raw[k.start:k.end]] = in.raw[v.start:v.end]
		return true
	})
	// Two first callers may both decode; either map will do.
	in.m.CompareAndSwap(nil, &m)
	return *in.m.Load()
}

// Get returns the value of key and whether it is present, without
// decoding the other pairs. When a key appears more than once, the last
// one wins, as in Map.
func (in *Incoming) Get(key string) (string, bool) {
	if in == nil {
		return "", false
	}
	if p := in.m.Load(); p != nil {
		v, ok := (*p)[key]
		return v, ok
	}
	val, found := "", false
	_, _, _ = scan(in.bytes(), func(k, v span) bool {
		if in.raw[k.start:k.end] == key {
			val, found = in.raw[v.start:v.end], true
		}
		return true
	})
	return val, found
}
