package bench

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/ferryrpc/ferry/benchmarks/message"
)

var encoded = sync.OnceValue(func() map[message.Kind][]byte {
	m := map[message.Kind][]byte{}
	for _, k := range message.Kinds() {
		b, err := k.Marshal()
		if err != nil {
			panic(fmt.Sprintf("bench: encode the %s message: %v", k, err))
		}
		m[k] = b
	}
	return m
})

// EncodedMessage returns the MessagePack encoding of k.New(), as Ferry
// encodes it: what the systems without a codec send. Callers must not
// modify it.
func EncodedMessage(k message.Kind) []byte { return encoded()[k] }

// BulkPayload returns n bytes of a fixed pattern.
func BulkPayload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// RawPayload returns the bytes a system without a codec sends for w.
func RawPayload(w Workload) []byte {
	if w.Bulk > 0 {
		return BulkPayload(w.Bulk)
	}
	return EncodedMessage(w.Message)
}

// CheckMessage returns an error unless got is a pointer to k's record
// type holding the values k.New() returns.
func CheckMessage(k message.Kind, got any) error {
	if !k.Same(got) {
		return fmt.Errorf("bench: echoed %s message differs from the one sent: %+v", k, got)
	}
	return nil
}

// CheckRaw returns an error unless got is the echo of RawPayload(w); for
// the message workload it also decodes got and compares the fields.
func CheckRaw(w Workload, got []byte) error {
	if w.Bulk > 0 {
		if len(got) != w.Bulk || !bytes.Equal(got, BulkPayload(w.Bulk)) {
			return fmt.Errorf("bench: echoed payload differs (%d bytes, want %d)", len(got), w.Bulk)
		}
		return nil
	}
	m, err := w.Message.Unmarshal(got)
	if err != nil {
		return fmt.Errorf("bench: decode echoed %s message: %w", w.Message, err)
	}
	return CheckMessage(w.Message, m)
}
