package msgpack

import (
	"bytes"
	"fmt"
	"testing"

	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// The types of BenchmarkCodec: Ferry's usual messages, keyed and
// positional (as_array), with strings and without.

type benchArgs struct{ A, B int64 }

type benchMsg struct { // 16 strings, about 580 bytes encoded
	ID     int64    `msgpack:"id"`
	Name   string   `msgpack:"name"`
	Email  string   `msgpack:"email"`
	City   string   `msgpack:"city"`
	Tags   []string `msgpack:"tags"`
	Notes  string   `msgpack:"notes,omitempty"`
	Score  float64  `msgpack:"score"`
	Active bool     `msgpack:"active"`
}

type benchMsgArray struct {
	//lint:ignore U1000 msgpack reads the tag
	_msgpack struct{} `msgpack:",as_array"`
	ID       int64
	Name     string
	Email    string
	City     string
	Tags     []string
	Notes    string
	Score    float64
	Active   bool
}

type benchNumbers struct { // no strings but the keys
	A, B, C int64
	U       uint32
	X, Y    float64
	F       bool
	Ns      []int32
}

type benchNumbersArray struct {
	//lint:ignore U1000 msgpack reads the tag
	_msgpack struct{} `msgpack:",as_array"`
	A, B, C  int64
	U        uint32
	X, Y     float64
	F        bool
	Ns       []int32
}

type benchHead struct {
	Trace string `msgpack:"trace"`
	Seq   uint64 `msgpack:"seq"`
}

type benchEmbedded struct {
	benchHead
	Body  string `msgpack:"body,omitempty"`
	Count int    `msgpack:"n"`
}

func benchValues() []struct {
	name string
	v    any
	zero func() any
} {
	tags := make([]string, 10)
	for i := range tags {
		tags[i] = fmt.Sprintf("tag-%02d-abcdefghijklmnopqrstu", i)
	}
	msg := benchMsg{ID: 1234567, Name: "Ferry Benchmark Name", Email: "someone@example.com", City: "Lisbon",
		Tags: tags, Notes: "notes about the message", Score: 98.25, Active: true}
	arr := benchMsgArray{ID: msg.ID, Name: msg.Name, Email: msg.Email, City: msg.City, Tags: tags,
		Notes: msg.Notes, Score: msg.Score, Active: true}
	ns := []int32{1, -2, 300, -40000, 5000000, 6, 7, 8}
	num := benchNumbers{A: 1, B: -200, C: 1 << 40, U: 70000, X: 1.5, Y: -3.25, F: true, Ns: ns}
	numArr := benchNumbersArray{A: 1, B: -200, C: 1 << 40, U: 70000, X: 1.5, Y: -3.25, F: true, Ns: ns}
	emb := benchEmbedded{benchHead: benchHead{Trace: "abc", Seq: 42}, Body: "hello", Count: 7}
	return []struct {
		name string
		v    any
		zero func() any
	}{
		{"args", &benchArgs{3, 4}, func() any { return new(benchArgs) }},
		{"msg", &msg, func() any { return new(benchMsg) }},
		{"msg_as_array", &arr, func() any { return new(benchMsgArray) }},
		{"numbers", &num, func() any { return new(benchNumbers) }},
		{"numbers_as_array", &numArr, func() any { return new(benchNumbersArray) }},
		{"embedded", &emb, func() any { return new(benchEmbedded) }},
	}
}

// BenchmarkCodec encodes (as the engine does: the fast path, else a reused
// msgpack encoder) and decodes (with a reused Decoder) each message.
func BenchmarkCodec(b *testing.B) {
	for _, c := range benchValues() {
		var ref bytes.Buffer
		enc := vmsgpack.NewEncoder(&ref)
		enc.UseCompactInts(true)
		if err := enc.Encode(c.v); err != nil {
			b.Fatal(err)
		}
		data := ref.Bytes()
		b.Run("encode/"+c.name, func(b *testing.B) {
			var buf Buffer
			enc := NewEncoder(&buf)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				buf.B = buf.B[:0]
				if out, ok := AppendFast(buf.B, c.v); ok {
					buf.B = out
				} else if err := enc.Encode(c.v); err != nil {
					b.Fatal(err)
				}
			}
			if !bytes.Equal(buf.B, data) {
				b.Fatalf("encoded % x, msgpack % x", buf.B, data)
			}
		})
		b.Run("decode/"+c.name, func(b *testing.B) {
			d := NewDecoder()
			v := c.zero()
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := d.Decode(data, v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScan frames each message as a wire.Reader does (Scan) and walks
// it as wire.Parse walks a message's fields (Skip).
func BenchmarkScan(b *testing.B) {
	for _, c := range benchValues() {
		data, err := Marshal(c.v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("scan/"+c.name, func(b *testing.B) {
			sc := NewScanner(1<<20, MaxDepth)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				sc.Reset()
				if n, err := sc.Scan(data); n != len(data) || err != nil {
					b.Fatal(n, err)
				}
			}
		})
		// As a request carries it: [0, id, method, [value]].
		req := append([]byte{0x94, 0x00, 0xcd, 0x30, 0x39, 0xa9}, "Echo.Echo"...)
		req = append(append(req, 0x91), data...)
		b.Run("request/"+c.name, func(b *testing.B) {
			sc := NewScanner(1<<20, MaxDepth)
			b.ReportAllocs()
			b.SetBytes(int64(len(req)))
			for b.Loop() {
				sc.Reset()
				if n, err := sc.Scan(req); n != len(req) || err != nil {
					b.Fatal(n, err)
				}
			}
		})
		b.Run("skip/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if n, err := Skip(data); n != len(data) || err != nil {
					b.Fatal(n, err)
				}
			}
		})
	}
}
