package server

import (
	"context"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
)

// NewStream opens a streaming call to method, a streaming handler that
// the client registered (client.Client.HandleStream, client.HandleBidi,
// ...), over the client's connection. It behaves as a stream a client
// opens to a server: flow control, ctx's deadline and cancellation on both
// sides, each side's MaxMessageSize, metadata, and the stream interceptors
// of WithStreamClientInterceptors here and of
// client.WithStreamServerInterceptors there. A client that registered no
// streaming handler refuses it with CodeUnimplemented and ferry.NotExecuted
// true (from the stream's first Recv). A client speaking plain
// MessagePack-RPC has no streams: CodeUnimplemented at once. The typed
// openers (client.OpenBidi, client.OpenServerStream,
// client.OpenClientStream) take a Peer too.
func (p *Peer) NewStream(ctx context.Context, method string) (ferry.ClientStream, error) {
	return p.OpenStream(ctx, method, ferry.BidiStreaming)
}

// OpenStream is NewStream with the kind that stream interceptors see
// (ferry.StreamOpener).
func (p *Peer) OpenStream(ctx context.Context, method string, kind ferry.StreamKind) (ferry.ClientStream, error) {
	select {
	case <-p.Done():
		// The session may take a moment longer to notice: open nothing.
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "the connection to the client has ended"))
	default:
	}
	d := p.conn.dialer()
	if d == nil {
		return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnimplemented, "streaming calls need a Ferry session: this client speaks plain MessagePack-RPC"))
	}
	return stream.Open(ctx, p.conn.s.scic, &ferry.StreamInfo{Method: method, Kind: kind}, d.Open)
}

// dialer returns the Dialer of the streams the server opens to the
// client, or nil without a session.
func (c *netConn) dialer() *stream.Dialer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	if c.opener == nil {
		cfg := c.s.opts.cfg
		c.opener = &stream.Dialer{
			Session:      c.sess,
			Limits:       c.limits(),
			WriteTimeout: cfg.WriteTimeout,
			Budget:       c.budget,
			Stall:        cfg.PartialMessageTimeout,
			Background:   &c.opened,
			Cancel: func(id uint32) error {
				for _, e := range c.snapshot() {
					return e.SendControl(wire.MethodCancelStream, id)
				}
				return nil
			},
		}
	}
	return c.opener
}
