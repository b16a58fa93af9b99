package server

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/ferryrpc/ferry/client"
)

// Peer is a connected client as the server sees it. Its embedded
// client.Conn calls the client's registered handlers over the same
// connection (Call, Go, Notify), with the same deadlines, cancellation,
// errors, metadata, interceptors and limits as calls in the other
// direction. A Peer may be kept and used after the handler that found it
// returns, until Done is closed.
type Peer struct {
	*client.Conn
	id     uint64
	remote net.Addr
	conn   *conn
}

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
