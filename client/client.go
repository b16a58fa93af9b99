package client

import (
	"context"
	"net"
	"sync"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// Client is a connection to one server. It is safe for concurrent use;
// calls from many goroutines share the connection.
type Client struct {
	nc   net.Conn
	sess *transport.Session
	eng  *engine.Conn
	once sync.Once
}

// Dial connects to a server at addr ("host:port") over TCP. ctx bounds the
// dial and the session handshake.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeUnavailable, err, "dial "+addr+": "+err.Error()))
	}
	c, err := newClient(ctx, nc, o)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// New starts a client on an established connection (TLS, a unix socket,
// an in-memory pipe). The client owns conn and closes it on Close.
func New(conn net.Conn, opts ...Option) (*Client, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.cfg.StreamOpenTimeout)
	defer cancel()
	return newClient(ctx, conn, o)
}

func buildOptions(opts []Option) (options, error) {
	o := options{cfg: transport.DefaultConfig()}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

func newClient(ctx context.Context, nc net.Conn, o options) (*Client, error) {
	c := &Client{nc: nc}
	eo := engine.Options{
		Limits:       wire.Limits{MaxMessage: o.cfg.MaxMessageSize, MaxDepth: o.cfg.MaxDepth},
		Ext:          !o.plain,
		Client:       ferry.ChainClient(o.interceptors...),
		WriteTimeout: o.cfg.WriteTimeout,
		Logger:       o.logger,
	}
	if o.plain {
		c.eng = engine.New(nc, eo)
		return c, nil
	}
	sess, err := transport.Client(nc, o.cfg)
	if err != nil {
		return nil, err
	}
	// Opening the shared stream at once also sends the first bytes, which
	// the server's protocol sniffing waits for.
	st, err := sess.Open(ctx)
	if err != nil {
		sess.Close()
		return nil, ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeUnavailable, err, "open session: "+err.Error()))
	}
	c.sess = sess
	eo.WriteTimeout = 0 // the session bounds every write itself
	c.eng = engine.New(st, eo)
	return c, nil
}

// Call calls method with args and waits for the result, which is decoded
// into reply (a pointer, or nil to discard it). The error is a
// *ferry.Error; errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, context.Canceled) hold when ctx ended the call.
func (c *Client) Call(ctx context.Context, method string, args, reply any) error {
	return c.eng.Call(ctx, method, args, reply)
}

// Go starts a call and returns at once. reply must not be touched until
// the call's Done channel is closed. Go never blocks on the network, never
// panics and never drops a result.
func (c *Client) Go(ctx context.Context, method string, args, reply any) *Call {
	call := &Call{Method: method, Args: args, Reply: reply}
	call.p.NewAsync()
	c.eng.Go(ctx, method, args, reply, &call.p)
	return call
}

// Notify sends a one-way notification: no response ever comes, and the
// server does not report whether it ran. It returns once the message is
// queued.
func (c *Client) Notify(ctx context.Context, method string, args any) error {
	return c.eng.Notify(ctx, method, args)
}

// Done is closed when the connection ends, by Close or by failure.
func (c *Client) Done() <-chan struct{} { return c.eng.Done() }

// Close ends the connection. Calls in flight fail at once with an error
// wrapping ferry.ErrClosed. It returns after the client's goroutines exit.
func (c *Client) Close() error {
	c.once.Do(func() {
		c.eng.Close()
		if c.sess != nil {
			c.sess.Close()
		}
		c.nc.Close()
	})
	return nil
}

// Call is an asynchronous call started by Go.
type Call struct {
	Method string // the method called
	Args   any    // the arguments sent
	Reply  any    // where the result is decoded
	p      engine.Pending
}

// Done is closed when the call completes; any number of goroutines may
// wait on it.
func (c *Call) Done() <-chan struct{} { return c.p.Done() }

// Err returns the call's error once Done is closed (nil on success), and
// nil before.
func (c *Call) Err() error {
	select {
	case <-c.p.Done():
		return c.p.Err()
	default:
		return nil
	}
}

// Wait blocks until the call completes and returns its error.
func (c *Call) Wait() error {
	<-c.p.Done()
	return c.p.Err()
}
