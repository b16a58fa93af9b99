// Package bench drives the comparison: it starts one system's server and
// client over loopback TCP, runs workers against them for a timed window,
// and measures throughput, latency, allocations, CPU and idle memory. The
// systems themselves live under systems/ and only implement the
// interfaces in this file.
package bench

import (
	"context"
	"errors"

	"github.com/ferryrpc/ferry/benchmarks/message"
)

// ErrUnsupported is returned by a client for a workload its system does
// not run; the driver skips that system for that scenario.
var ErrUnsupported = errors.New("bench: workload not supported by this system")

// Workload says what every call carries.
type Workload struct {
	// Bulk, when positive, makes each call carry an opaque payload of
	// that many bytes; otherwise each call carries the record Message
	// names.
	Bulk int
	// Message is the record each call carries when Bulk is 0: Message.New()
	// in the system's own encoding (the raw systems send its MessagePack
	// encoding).
	Message message.Kind
}

// System is one RPC stack under test.
type System interface {
	// Name is the short label used in tables and charts.
	Name() string
	// Listen starts a server on 127.0.0.1:0.
	Listen() (Server, error)
}

// Variant is implemented by a System that runs another system's transport
// and client and differs from it only in how its server dispatches calls
// (ferry-reflect from ferry). The idle scenario skips a system whose
// VariantOf is not empty: its idle connections are the other system's.
type Variant interface {
	// VariantOf names the system this one is a variant of, or is empty.
	VariantOf() string
}

// Server is a running server of a System.
type Server interface {
	// Dial connects a new client to the server. The client is a
	// SyncClient or an AsyncClient.
	Dial(ctx context.Context) (Client, error)
	// Close stops the server and waits for its goroutines.
	Close() error
}

// Client is one connection, shared by all the workers of a run.
type Client interface {
	// Close ends the connection.
	Close() error
}

// SyncClient makes blocking calls: the driver gives each worker
// goroutine its own Caller.
type SyncClient interface {
	Client
	// NewCaller returns a caller for one goroutine; ErrUnsupported if the
	// system does not run w.
	NewCaller(w Workload) (Caller, error)
}

// Caller makes one blocking echo call at a time.
type Caller interface {
	// Call sends the payload and waits for the reply, fully decoded.
	Call(ctx context.Context) error
	// Check returns an error unless the last reply equals what was sent.
	Check() error
}

// AsyncClient keeps many calls in flight from one goroutine.
type AsyncClient interface {
	Client
	// NewPipeline returns a pipeline of depth slots; ErrUnsupported if
	// the system does not run w.
	NewPipeline(w Workload, depth int) (Pipeline, error)
}

// Pipeline is a fixed set of slots, each holding at most one call.
type Pipeline interface {
	// Start begins a call in slot and returns without waiting.
	Start(ctx context.Context, slot int)
	// Wait waits for the call in slot to complete.
	Wait(slot int) error
	// Check returns an error unless slot's last reply equals what was sent.
	Check(slot int) error
}

// StreamClient is a Client whose system has bidirectional streams; the
// stream scenario skips systems whose clients are not StreamClients.
type StreamClient interface {
	Client
	// OpenStream opens one bidirectional stream to the server's echo
	// handler, which sends back every message it receives, in order.
	// Cancelling ctx aborts the stream.
	OpenStream(ctx context.Context) (Stream, error)
}

// Stream is one bidirectional echo stream of the message. The driver calls
// Send from one goroutine and Recv from another at the same time; Check and
// Close come after both have returned.
type Stream interface {
	// Send sends the message without waiting for its echo.
	Send() error
	// CloseSend tells the server that no more messages will come; the
	// server then ends the stream once it has echoed the rest.
	CloseSend() error
	// Recv receives the next echo and decodes it as the system's client
	// does (the raw systems keep the bytes); io.EOF once the server ended
	// the stream.
	Recv() error
	// Check returns an error unless the last echo equals what was sent.
	Check() error
	// Close releases the stream.
	Close() error
	// MessageSize is the payload bytes of one message in the system's
	// encoding, framing excluded.
	MessageSize() int
}
