package client

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// Streams the server opens to this client (server.Peer.NewStream) are
// served here, with the same semantics as streams a client opens to a
// server: flow control, deadlines, cancellation both ways, MaxMessageSize,
// metadata, WithMaxConcurrentCalls (a stream takes a slot and never
// queues) and stream interceptors (WithStreamServerInterceptors). A client
// that registered no streaming handler refuses every stream with
// CodeUnimplemented and ferry.NotExecuted true.

// HandleStream registers an untyped streaming method, of kind, that the
// server can open to this client over c's connection. Unary and streaming
// methods share one table: a name is registered once, as one kind.
func (c *Client) HandleStream(name string, kind ferry.StreamKind, fn ferry.StreamHandler) error {
	if err := registry.CheckStream(name, kind, fn); err != nil {
		return err
	}
	return c.reg.Add(registry.Streaming(name, kind, nil, nil, fn))
}

// HandleBidi registers a typed bidirectional streaming method that the
// server can open to this client: fn receives with recv (io.EOF once the
// server closed its side) and sends with send.
func HandleBidi[Req, Resp any](c *Client, name string, fn func(ctx context.Context, recv func() (*Req, error), send func(*Resp) error) error) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return c.reg.Add(registry.Bidi(name, fn))
}

// HandleServerStream registers a typed method that the server can open to
// this client: it takes one request and sends any number of responses.
func HandleServerStream[Req, Resp any](c *Client, name string, fn func(ctx context.Context, req *Req, send func(*Resp) error) error) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return c.reg.Add(registry.ServerStream(name, fn))
}

// HandleClientStream registers a typed method that the server can open to
// this client: it receives any number of requests with recv (io.EOF after
// the last) and returns one response.
func HandleClientStream[Req, Resp any](c *Client, name string, fn func(ctx context.Context, recv func() (*Req, error)) (*Resp, error)) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return c.reg.Add(registry.ClientStream(name, fn))
}

// opened starts the accept loop, unless it runs, for a stream the server
// opened (transport.Session.OnOpen): an idle client parks no goroutine
// waiting for streams.
func (c *Client) opened() {
	c.smu.Lock()
	c.opens++
	start := !c.accepting && !c.closing
	if start {
		c.accepting = true
		c.served.Add(1)
	}
	c.smu.Unlock()
	if start {
		go c.acceptStreams()
	}
}

// acceptStreams serves the streams the server opened, until none is left
// to take or the session ends.
func (c *Client) acceptStreams() {
	defer c.served.Done()
	for {
		st, err := c.sess.Accept()
		if err != nil {
			// The session ended, or yamux could not acknowledge a stream
			// in time (a write timeout, which need not end the session):
			// the next stream the server opens starts the loop again.
			c.smu.Lock()
			c.accepting = false
			c.smu.Unlock()
			return
		}
		c.smu.Lock()
		c.opens--
		idle := c.opens <= 0
		if idle {
			c.accepting = false
		}
		full := c.nserved >= c.cfg.MaxStreams
		refuse := full && c.refusing < stream.MaxRefusing
		switch {
		case !full:
			c.nserved++
			c.served.Add(1)
		case refuse:
			c.refusing++
			c.served.Add(1)
		}
		c.smu.Unlock()
		switch {
		case !full:
			go c.serveAccepted(st)
		case refuse:
			go c.refusePastMax(st)
		default:
			st.Close() // past MaxStreams, with refusals already being written
		}
		if idle {
			return
		}
	}
}

// refusePastMax answers a stream the server opened past MaxStreams, unread,
// with a final status refusing it, not executed, and closes it.
func (c *Client) refusePastMax(st net.Conn) {
	defer c.served.Done()
	defer func() {
		c.smu.Lock()
		c.refusing--
		c.smu.Unlock()
	}()
	stream.RefusePastMax(st, c.limits, c.cfg.WriteTimeout)
}

// serveAccepted serves a stream the accept loop took, in a goroutine of
// its own.
func (c *Client) serveAccepted(st net.Conn) {
	defer c.served.Done()
	defer func() {
		c.smu.Lock()
		c.nserved--
		c.smu.Unlock()
	}()
	c.serveStream(st)
}

// serveStream serves one stream the server opened.
func (c *Client) serveStream(st net.Conn) {
	_ = st.SetReadDeadline(time.Now().Add(c.cfg.SniffTimeout))
	var b [1]byte
	if _, err := io.ReadFull(st, b[:]); err != nil || b[0] != wire.StreamMarker {
		st.Close() // the server opens only streaming calls to its clients
		return
	}
	cnt := stream.NewCounter(st, 1) // the marker byte was read
	sc := stream.New(cnt, c.limits)
	sc.Bound(c.sess.Budget(), c.cfg.PartialMessageTimeout)
	sc.BoundWrites(c.sess.Budget(), c.cfg.WriteTimeout) // as on the server: a peer that grants no window is cut off
	defer sc.Close()
	method, ext, err := sc.ReadOpen()
	_ = st.SetReadDeadline(time.Time{})
	if err != nil {
		if refusal := stream.OpenRefusal(method, err); refusal != nil {
			_ = sc.SendStatus(nil, refusal)
		}
		return
	}
	m := c.reg.Lookup([]byte(method))
	switch {
	case m == nil && !c.reg.HasStreams():
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "this client serves no streams (it registered no streaming handler): %q", wire.EchoName(method))))
		return
	case m == nil:
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown stream method %q", wire.EchoName(method))))
		return
	case m.Unary():
		_ = sc.SendStatus(nil, ferry.Errorf(ferry.CodeUnimplemented, "%s is a unary method: call it, do not open a stream", method))
		return
	case !c.limiter.Acquire():
		_ = sc.SendStatus(nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many calls running on this connection")))
		return
	}
	defer c.limiter.Release()
	id := transport.StreamID(st)
	c.serving.Run(c.ctx, st, sc, cnt, m, ext, func(cancel context.CancelFunc) func() {
		return c.cancels.Track(id, cancel)
	}, nil)
}

// control serves the reserved methods the server sends on the call
// stream: the cancel of a stream it opened.
func (c *Client) control(method string, params []byte) (any, error) {
	if method == wire.MethodCancelStream {
		var id uint32
		if p, n, ok := wire.FirstParam(params); ok && n == 1 && codec.Unmarshal(p, &id) == nil {
			c.cancels.Cancel(id)
		}
		return nil, nil
	}
	return nil, ferry.Errorf(ferry.CodeUnimplemented, "unknown method %q", wire.EchoName(method))
}

// OpenStream opens a streaming call of kind to method (ferry.StreamOpener):
// the typed openers (OpenBidi, OpenServerStream, OpenClientStream) take a
// Client or a server.Peer through it.
func (c *Client) OpenStream(ctx context.Context, method string, kind ferry.StreamKind) (ferry.ClientStream, error) {
	s, err := c.newStream(ctx, method, kind)
	if err != nil {
		return nil, err
	}
	return s.cs, nil
}
