package message

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/ferryrpc/ferry/codec"
)

// Kind names one of the echoed records. The zero Kind is Default.
type Kind int

// The records.
const (
	// Default is Message: 33 fields, 14 of them strings and one a list of
	// strings, encoded as a map.
	Default Kind = iota
	// AsArray is Array: Message's fields and values declared
	// msgpack:",as_array".
	AsArray
	// NoStrings is Numbers: numbers, booleans, a byte blob and a nested
	// struct, no strings.
	NoStrings
)

var kindNames = [...]string{Default: "default", AsArray: "asarray", NoStrings: "nostrings"}

// Kinds returns every Kind, Default first.
func Kinds() []Kind { return []Kind{Default, AsArray, NoStrings} }

// String returns the name the -messages flag takes.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// ParseKind returns the Kind named s (see String).
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds() {
		if k.String() == s {
			return k, nil
		}
	}
	return 0, fmt.Errorf("unknown message %q (want %s)", s, strings.Join(kindNames[:], ", "))
}

// New returns a pointer to k's record, filled the same way every time:
// New(), NewArray() or NewNumbers().
func (k Kind) New() any {
	switch k {
	case AsArray:
		return NewArray()
	case NoStrings:
		return NewNumbers()
	}
	return New()
}

// Zero returns a pointer to a zero record of k's type, to decode into.
func (k Kind) Zero() any {
	switch k {
	case AsArray:
		return new(Array)
	case NoStrings:
		return new(Numbers)
	}
	return new(Message)
}

// Same reports whether v is a pointer to k's record type holding the
// values New returns.
func (k Kind) Same(v any) bool { return reflect.DeepEqual(v, k.New()) }

// Marshal returns the MessagePack encoding of k's record, as Ferry sends
// it.
func (k Kind) Marshal() ([]byte, error) { return codec.Marshal(k.New()) }

// Unmarshal decodes a MessagePack-encoded record of kind k and returns a
// pointer to it.
func (k Kind) Unmarshal(b []byte) (any, error) {
	v := k.Zero()
	if err := codec.Unmarshal(b, v); err != nil {
		return nil, err
	}
	return v, nil
}
