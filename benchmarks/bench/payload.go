package bench

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/ferryrpc/ferry/benchmarks/message"
)

var (
	encodedOnce sync.Once
	encoded     []byte
)

// EncodedMessage returns the MessagePack encoding of message.New(): what
// the systems without a codec send. Callers must not modify it.
func EncodedMessage() []byte {
	encodedOnce.Do(func() {
		var err error
		if encoded, err = message.Marshal(message.New()); err != nil {
			panic(fmt.Sprintf("bench: encode the message: %v", err))
		}
	})
	return encoded
}

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
	return EncodedMessage()
}

// CheckMessage returns an error unless got equals message.New().
func CheckMessage(got *message.Message) error {
	if got == nil || !got.Equal(message.New()) {
		return fmt.Errorf("bench: echoed message differs from the one sent: %+v", got)
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
	m, err := message.Unmarshal(got)
	if err != nil {
		return fmt.Errorf("bench: decode echoed message: %w", err)
	}
	return CheckMessage(m)
}
