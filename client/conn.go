package client

import (
	"context"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
)

// Conn is the calling side of one connection. A Client is one; a handler
// reaches the Conn its call arrived on through ConnFromContext (on a
// client) or server.PeerFromContext (on a server) and can call back over
// the same connection.
type Conn struct {
	eng *engine.Channel
}

var _ ferry.Caller = (*Conn)(nil)

type connKey struct{}

// ConnFromContext returns the connection a client-side handler's call
// arrived on, to call the server back; nil outside such a handler.
func ConnFromContext(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// Call calls method with args and waits for the result, which is decoded
// into reply (a pointer, or nil to discard it). The error is a
// *ferry.Error; errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, context.Canceled) hold when ctx ended the call. A nil
// ctx, or a reply that is neither nil nor a non-nil pointer, is refused
// before anything is sent: CodeInvalidArgument, ferry.NotExecuted (a nil
// ctx given to Go, Notify, NewStream or a typed opener too). A result
// that does not fit reply (PROTOCOL.md 2.1) fails the call with
// CodeInternal, not flagged ferry.NotExecuted (the handler ran), and the
// connection goes on. A request past the message limit, the client's
// MaxMessageSize or the server's (which the server told in its answer to
// the hello), is not sent: CodeResourceExhausted, ferry.NotExecuted; a
// reply past either is replaced by the server with CodeResourceExhausted
// (the handler ran); the connection goes on (over bare MessagePack-RPC,
// which tells no limit, see WithPlainMsgpackRPC). Arguments
// that are a []byte or codec.Raw of 64 KiB or more are written from args
// itself, not copied: Call returns no earlier than that write ends (within
// the WriteTimeout), unless ctx ends while they are still queued.
func (c *Conn) Call(ctx context.Context, method string, args, reply any) error {
	return c.eng.Call(ctx, method, args, reply)
}

// Go starts a call and returns at once. reply must not be touched until
// the call's Done channel is closed. Go never panics and never drops a
// result. It does not wait for the network, only for room in the
// connection's write queue: while 1 MiB of messages waits behind a write
// the server does not take, Go (like Call and Notify) waits until ctx
// ends, the call then failing with ctx's error and flagged not executed
// (nothing was sent), or for at most the WriteTimeout (transport.Config).
func (c *Conn) Go(ctx context.Context, method string, args, reply any) *ferry.Call {
	return c.eng.Go(ctx, method, args, reply)
}

// Notify sends a one-way notification: no response ever comes, and the
// server does not report whether it ran. It returns once the message is
// queued.
func (c *Conn) Notify(ctx context.Context, method string, args any) error {
	return c.eng.Notify(ctx, method, args)
}

// Done is closed when the connection ends, by Close or by failure.
func (c *Conn) Done() <-chan struct{} { return c.eng.Done() }

// Err returns why the connection ended, or nil while it is open.
func (c *Conn) Err() error { return c.eng.Err() }
