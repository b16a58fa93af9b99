package msgpack

import (
	"math/rand/v2"
	"testing"

	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// BenchmarkFastDecode measures the fast path on a small positional args
// struct, a map-encoded one, and a struct with a field of every kind.
func BenchmarkFastDecode(b *testing.B) {
	type Args struct{ A, B int64 }
	positional, _ := vmsgpack.Marshal([]any{3, 4})
	keyed, _ := vmsgpack.Marshal(map[string]any{"A": 3, "B": 4})
	all := randAll(rand.New(rand.NewPCG(5, 6)))
	allBytes, _ := vmsgpack.Marshal(&all)
	run := func(name string, data []byte, v any) {
		b.Run(name, func(b *testing.B) {
			d := NewDecoder()
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := d.Decode(data, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	run("positional", positional, &Args{})
	run("keyed", keyed, &Args{})
	run("all", allBytes, &fastAll{})
}
