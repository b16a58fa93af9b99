package ferry

import (
	"context"

	"github.com/ferryrpc/ferry/internal/async"
)

// Caller is what makes calls: a client.Client, the client.Conn a
// client-side handler calls the server back on, a server.Peer a
// server-side handler calls the client back on, and a cluster.Client.
// Code written against a Caller (client.Invoke and client.Async,
// health.Check, pubsub.Publish) works with any of them.
type Caller interface {
	// Call calls method with args and waits for the result, which is
	// decoded into reply (a pointer, or nil to discard it). A *[]byte
	// reply whose slice has the capacity is filled in place: its array is
	// overwritten, so keep no other use of it (when ctx ends while a large
	// reply arrives into it, the call ends after the read under way, which
	// the stall timeout bounds). The error is
	// an *Error; errors.Is(err, context.DeadlineExceeded) and
	// errors.Is(err, context.Canceled) hold when ctx ended the call. A
	// nil ctx, or a reply that is neither nil nor a non-nil pointer, is
	// refused before anything is sent: CodeInvalidArgument, NotExecuted
	// (so too a nil ctx given to Go, Notify or a stream opener).
	Call(ctx context.Context, method string, args, reply any) error
	// Go starts a call and returns at once. reply must not be touched
	// until the call's Done channel is closed. Go never panics and never
	// drops a result. It does not wait for the network, only for room in
	// the connection's write queue: while 1 MiB of messages waits behind
	// a write the peer does not take, Go (like Call and Notify) waits
	// until ctx ends, the call then failing with ctx's error and flagged
	// not executed (nothing was sent), or for at most the transport's
	// WriteTimeout.
	Go(ctx context.Context, method string, args, reply any) *Call
	// Notify sends a one-way notification: no response ever comes, and
	// the peer does not report whether it ran. It returns once the message
	// is queued.
	Notify(ctx context.Context, method string, args any) error
}

// Call is an asynchronous call started by a Caller's Go, net/rpc's shape
// with a context: its fields Method, Args and Reply say what was called;
// Done returns a channel closed when the call completes (any number of
// goroutines may wait on it); Err returns the call's error once Done is
// closed (nil on success, and nil before); Wait blocks until the call
// completes and returns its error.
type Call = async.Call
