package server

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
)

// Peer is a connected client as the server sees it. It is a ferry.Caller:
// Call, Go and Notify call the client's registered handlers over the same
// connection, with the same deadlines, cancellation, errors, metadata,
// interceptors and limits as calls in the other direction. To a client
// speaking bare MessagePack-RPC they are the spec's messages alone, with
// no deadline, metadata or cancellation (ctx bounds only the server's
// wait), and its errors arrive as CodeUnknown. A Peer may be kept and
// used after the handler that found it returns, until Done is closed.
type Peer struct {
	eng    *engine.Channel
	id     uint64
	remote net.Addr
	conn   *netConn
}

var _ ferry.Caller = (*Peer)(nil)

// Call calls method on the client with args and waits for the result,
// which is decoded into reply (a pointer, or nil to discard it). Errors
// are as for client.Client.Call.
func (p *Peer) Call(ctx context.Context, method string, args, reply any) error {
	return p.eng.Call(ctx, method, args, reply)
}

// Go starts a call on the client and returns at once. reply must not be
// touched until the call's Done channel is closed.
func (p *Peer) Go(ctx context.Context, method string, args, reply any) *ferry.Call {
	return p.eng.Go(ctx, method, args, reply)
}

// Notify sends the client a one-way notification. It returns once the
// message is queued.
func (p *Peer) Notify(ctx context.Context, method string, args any) error {
	return p.eng.Notify(ctx, method, args)
}

// Done is closed when the connection to the client ends.
func (p *Peer) Done() <-chan struct{} { return p.eng.Done() }

// Err returns why the connection to the client ended, or nil while it is
// open.
func (p *Peer) Err() error { return p.eng.Err() }

// Identity returns what the server's AuthFunc returned for this
// connection (nil without authentication). Calls the server makes through
// the Peer go to that authenticated client.
func (p *Peer) Identity() any {
	p.conn.mu.Lock()
	defer p.conn.mu.Unlock()
	return p.conn.identity
}

var peerIDs atomic.Uint64

// ID returns a number unique to this peer within the process.
func (p *Peer) ID() uint64 { return p.id }

// RemoteAddr returns the client's network address.
func (p *Peer) RemoteAddr() net.Addr { return p.remote }

type peerKey struct{}

// PeerFromContext returns the peer whose call the handler is serving, or
// nil outside a handler.
func PeerFromContext(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}
