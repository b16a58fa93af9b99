package wire

import (
	"errors"

	"github.com/ferryrpc/ferry/internal/meta"
	"github.com/ferryrpc/ferry/internal/msgpack"
)

// Limits bound what a peer can make us hold, and what we send it.
type Limits struct {
	MaxMessage int // largest message in bytes
	MaxDepth   int // deepest nesting of arrays and maps
	// Peer, when set, is the connection's record of the peer's own
	// message limit: nothing is sent past it (SendMax). Readers ignore it.
	Peer *PeerMax
}

// DefaultLimits are DefaultMaxMessage (4 MiB) messages nested at most
// DefaultMaxDepth (64) deep.
var DefaultLimits = Limits{MaxMessage: DefaultMaxMessage, MaxDepth: DefaultMaxDepth}

// Errors returned for malformed or hostile input. They are protocol errors:
// a stream that produced one cannot be resynchronised and must be closed.
// The first three are internal/msgpack's, so errors.Is matches either name.
var (
	ErrTooLarge   = msgpack.ErrTooLarge
	ErrTooDeep    = msgpack.ErrTooDeep
	ErrMalformed  = msgpack.ErrMalformed
	ErrNotMessage = errors.New("ferry: message is not a msgpack array")
)

// ErrMetadataTooLarge is returned by ParseRequestExt for a call's
// metadata of more than 1,024 pairs or 64 KiB (internal/meta's MaxPairs
// and MaxBytes). Unlike the errors above it leaves the stream in sync:
// the call is refused, not the connection.
var ErrMetadataTooLarge = meta.ErrTooMuch

// ErrBudget is returned by Next when holding more of a message would pass
// the connection's memory budget.
var ErrBudget = errors.New("ferry: message would pass the connection's memory budget")

// ErrStalled is what a Reader's stall function is told when the peer held
// part of a message without sending more of it for too long.
var ErrStalled = errors.New("ferry: the peer stalled in the middle of a message")

// maxEchoedName is how much of a method name an error message quotes.
const maxEchoedName = 128

// EchoName returns a method name as an error message may quote it: its
// first 128 bytes. A name arrives from the peer with no bound but the
// message's; quoted whole, 1 MiB of bytes that are not printable would
// make a 4 MiB error.
func EchoName(name string) string {
	if len(name) > maxEchoedName {
		return name[:maxEchoedName]
	}
	return name
}
