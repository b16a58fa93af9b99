package wire

import (
	"errors"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// Limits bound what a peer can make us hold.
type Limits struct {
	MaxMessage int // largest message in bytes
	MaxDepth   int // deepest nesting of arrays and maps
}

// DefaultLimits are 4 MiB messages nested at most 64 deep.
var DefaultLimits = Limits{MaxMessage: 4 << 20, MaxDepth: msgpack.MaxDepth}

// Errors returned for malformed or hostile input. They are protocol errors:
// a stream that produced one cannot be resynchronised and must be closed.
// The first three are internal/msgpack's, so errors.Is matches either name.
var (
	ErrTooLarge   = msgpack.ErrTooLarge
	ErrTooDeep    = msgpack.ErrTooDeep
	ErrMalformed  = msgpack.ErrMalformed
	ErrNotMessage = errors.New("ferry: message is not a msgpack array")
)
