package meta

import (
	"context"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// OutKey is the context key under which the metadata a call sends is
// found: a ferry.Metadata (WithOutgoingMetadata, NewOutgoingContext) or an
// *Appended (AppendOutgoingMetadata).
type OutKey struct{}

// Appended is a context that adds one key/value pair to the metadata its
// parent's calls send, without copying a map: Base is the map found below
// it (nil for none) and Prev the pair added before it (nil for none),
// itself a parent of this context. A pair wins over Base and over the
// pairs added before it.
type Appended struct {
	context.Context
	Key, Val string
	Base     map[string]string
	Prev     *Appended
}

// Value returns a itself for OutKey and asks the parent for any other key.
func (a *Appended) Value(key any) any {
	if _, ok := key.(OutKey); ok {
		return a
	}
	return a.Context.Value(key)
}

// String names the context without its values, which may be secrets.
func (a *Appended) String() string {
	if s, ok := a.Context.(interface{ String() string }); ok {
		return s.String() + ".WithOutgoingMetadataPair"
	}
	return "context.WithOutgoingMetadataPair"
}

// maxLinear is the longest chain of pairs whose duplicates are found by
// comparing pairs with each other; a longer one is merged into a map.
const maxLinear = 8

// depth is the number of pairs in the chain.
func (a *Appended) depth() int {
	n := 0
	for p := a; p != nil; p = p.Prev {
		n++
	}
	return n
}

// shadowed reports whether a pair added after p (from a down to p) has
// p's key.
func (a *Appended) shadowed(p *Appended) bool {
	for q := a; q != p; q = q.Prev {
		if q.Key == p.Key {
			return true
		}
	}
	return false
}

// has reports whether a pair of the chain has key.
func (a *Appended) has(key string) bool {
	for q := a; q != nil; q = q.Prev {
		if q.Key == key {
			return true
		}
	}
	return false
}

// Map returns the metadata as one new map: Base with the pairs added.
func (a *Appended) Map() map[string]string {
	m := make(map[string]string, len(a.Base)+a.depth())
	for k, v := range a.Base {
		m[k] = v
	}
	// Oldest first, so that a later pair overwrites an earlier one.
	chain := make([]*Appended, 0, a.depth())
	for p := a; p != nil; p = p.Prev {
		chain = append(chain, p)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		m[chain[i].Key] = chain[i].Val
	}
	return m
}

// AppendTo appends the metadata to b as a MessagePack map, each key once.
func (a *Appended) AppendTo(b []byte) []byte {
	if a.depth() > maxLinear {
		return msgpack.AppendStringMap(b, a.Map())
	}
	n := len(a.Base)
	for p := a; p != nil; p = p.Prev {
		if _, inBase := a.Base[p.Key]; !inBase && !a.shadowed(p) {
			n++
		}
	}
	b = msgpack.AppendMapHeader(b, n)
	for p := a; p != nil; p = p.Prev {
		if !a.shadowed(p) {
			b = msgpack.AppendString(msgpack.AppendString(b, p.Key), p.Val)
		}
	}
	for k, v := range a.Base {
		if !a.has(k) {
			b = msgpack.AppendString(msgpack.AppendString(b, k), v)
		}
	}
	return b
}
