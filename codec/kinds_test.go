package codec_test

import (
	"testing"
	"unsafe"

	"github.com/ferryrpc/ferry/codec"
	"github.com/stretchr/testify/assert"
)

// TestMarshalUnsupportedKinds: Marshal's "a value of a kind MessagePack has
// no form for ... is an error, wherever it sits": a uintptr, alone or in a
// struct, slice or map, panicked inside the msgpack library (it has no
// encoder for that kind) while a chan or a func gave an error.
func TestMarshalUnsupportedKinds(t *testing.T) {
	var x int
	for name, v := range map[string]any{
		"uintptr":           uintptr(1),
		"uintptr in struct": struct{ A uintptr }{1},
		"uintptr in slice":  []uintptr{1},
		"uintptr in map":    map[string]uintptr{"a": 1},
		"chan":              make(chan int),
		"func in struct":    struct{ F func() }{},
		"complex128":        complex(1, 2),
		"unsafe.Pointer":    unsafe.Pointer(&x),
	} {
		assert.NotPanics(t, func() {
			b, err := codec.Marshal(v)
			assert.Error(t, err, "%s", name)
			assert.Nil(t, b, "%s", name)
		}, name)
	}
}
