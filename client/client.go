package client

import (
	"context"
	"crypto/tls"
	"errors"
	"github.com/ferryrpc/ferry/internal/bgroup"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// Client is a connection to one server. It is safe for concurrent use;
// calls from many goroutines share the connection.
type Client struct {
	*Conn     // Call, Go, Notify
	goingAway chan struct{}
	nc        net.Conn
	sess      *transport.Session
	reg       *registry.Registry
	limits    wire.Limits
	peerMax   wire.PeerMax // the server's message limit, from the hello's answer (limits.Peer)
	once      sync.Once
	bg        bgroup.Group // closes of abandoned streams, the answer to a go-away
	sic       ferry.StreamClientInterceptor
	dialer    stream.Dialer // opens streaming calls

	// Serving the streams the server opens (serve_stream.go).
	cfg       transport.Config
	limiter   *engine.Limiter
	serving   stream.Serving
	ctx       context.Context // parent of the handlers' contexts; canceled by Close
	cancelCtx context.CancelFunc
	served    sync.WaitGroup // the accept loop and the streams it serves
	smu       sync.Mutex
	opens     int            // streams the server opened and the accept loop has not taken
	accepting bool           // the accept loop runs
	closing   bool           // Close waits for served: no accept loop starts
	nserved   int            // streams being served
	refusing  int            // streams past MaxStreams being refused (stream.RefusePastMax)
	cancels   stream.Cancels // by stream id, for $ferry.cancelstream
}

var _ ferry.Caller = (*Client)(nil)

// Dial connects to a server at addr ("host:port") over TCP. ctx bounds the
// dial and the session handshake; when ctx has no deadline, the handshake
// (TLS, the hello and its answer) is also bounded by 1.25 ×
// StreamOpenTimeout (transport.Config, 10 s by default: 12.5 s). A server
// that accepts but never answers the hello fails Dial once the bound
// passes, with ctx's code (CodeDeadlineExceeded for the default bound),
// and one that does not acknowledge the session's first stream fails it
// after StreamOpenTimeout, wrapping transport.ErrOpenTimeout. A ctx that
// ends before the connection is made fails Dial with its code too
// (CodeCanceled or CodeDeadlineExceeded); a connection that cannot be made
// for any other reason, with CodeUnavailable. A connection or handshake
// that fails, or that the server refuses, fails Dial with
// ferry.NotExecuted true. A nil ctx is refused before anything is
// dialled: CodeInvalidArgument, ferry.NotExecuted.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	if err := status.CheckContext(ctx, "dial "+addr); err != nil {
		return nil, err
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		code := ferry.CodeUnavailable
		if ctx.Err() != nil { // ctx ended the dial: its code, as in the handshake
			code = ferry.CodeOf(ctx.Err())
		}
		return nil, ferry.MarkNotExecuted(ferry.WrapError(code, err, "dial "+addr+": "+err.Error()))
	}
	_ = transport.SetUserTimeout(nc, o.cfg.DeadPeerTimeout())
	if _, ok := ctx.Deadline(); !ok {
		// A server that takes the connection but never answers the hello
		// must not hold Dial forever. A quarter more than the bound: a
		// server that does not even acknowledge the stream ends the
		// session first (transport.ErrOpenTimeout names it better).
		// Saturated: a StreamOpenTimeout near the largest Duration must
		// not wrap around to a bound already past.
		bound := o.cfg.StreamOpenTimeout
		bound += min(bound/4, math.MaxInt64-bound)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, bound)
		defer cancel()
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

// ValidateOptions returns the error Dial and New would return for the
// first of opts they refuse (an out-of-range value, a nil function or
// config), or nil, without connecting: for code that keeps options for
// later dials, as cluster.WithClientOptions does.
func ValidateOptions(opts ...Option) error {
	_, err := buildOptions(opts)
	return err
}

func buildOptions(opts []Option) (options, error) {
	o := options{cfg: transport.DefaultConfig(), maxCalls: 1024}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// ErrTokenWithoutTLS is wrapped by the error of a Dial or New asked to
// send a token (WithToken) in plain text to a peer that is not on this
// machine; WithInsecureToken allows it.
var ErrTokenWithoutTLS = errors.New("ferry: the token would cross the network in plain text")

// exposesToken reports whether sending o's token on nc would put it on a
// network in plain text: a token, no TLS, not allowed by
// WithInsecureToken, and a peer address of an IP network that is not
// loopback. Unix sockets and in-memory pipes stay on this machine.
func exposesToken(nc net.Conn, o options) bool {
	if o.token == "" || o.plain || o.tls != nil || o.insecureToken {
		return false
	}
	if _, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return false // TLS (a *tls.Conn handed to New)
	}
	a := nc.RemoteAddr()
	if a == nil {
		return false
	}
	switch a := a.(type) { // a nil one: no address, not known to be local
	case *net.TCPAddr:
		return a == nil || !a.IP.IsLoopback()
	case *net.UDPAddr:
		return a == nil || !a.IP.IsLoopback()
	case *net.IPAddr:
		return a == nil || !a.IP.IsLoopback()
	}
	switch a.Network() {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6", "ip", "ip4", "ip6":
		ap, err := netip.ParseAddrPort(a.String())
		return err != nil || !ap.Addr().IsLoopback() // unparsable: not known to be local
	}
	return false
}

func newClient(ctx context.Context, nc net.Conn, o options) (*Client, error) {
	if exposesToken(nc, o) {
		nc.Close()
		return nil, ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeUnauthenticated, ErrTokenWithoutTLS,
			"WithToken without WithTLS would send the token in plain text to "+nc.RemoteAddr().String()+
				", which is not a loopback address: dial with WithTLS, or allow it with WithInsecureToken"))
	}
	if o.tls != nil {
		tc := tls.Client(nc, o.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, ferry.MarkNotExecuted(ferry.WrapError(tlsCode(err), err, "TLS handshake: "+err.Error()))
		}
		nc = tc
	}
	base := context.Background()
	if o.serverAuth != nil {
		id, err := authenticateServer(ctx, nc, o.serverAuth)
		if err != nil {
			return nil, err
		}
		base = ferry.WithIdentity(base, id)
	}
	c := &Client{nc: nc, reg: registry.New(), goingAway: make(chan struct{}), sic: ferry.ChainStreamClient(o.streamICs...),
		cfg: o.cfg, limiter: engine.NewLimiter(o.maxCalls, o.maxCalls)}
	c.ctx, c.cancelCtx = context.WithCancel(base)
	for _, register := range o.handlers {
		if err := register(c); err != nil {
			nc.Close()
			c.cancelCtx()
			return nil, ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeInvalidArgument, err, "registering handlers: "+err.Error()))
		}
	}
	logger := o.logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	c.serving = stream.Serving{Interceptor: ferry.ChainStreamServer(o.streamServerICs...), Logger: logger, CloseTimeout: o.cfg.StreamCloseTimeout}
	var goAwayOnce sync.Once
	// The hello's answer tells the server's limit, which the reader learns
	// before it reads the next message. Nothing of this side waits for it:
	// no call is made before Dial returns, after the answer, and the
	// server's calls and streams come after its answer.
	c.peerMax.Settle()
	lim := engine.Limits(o.cfg)
	lim.Peer = &c.peerMax
	eo := engine.Options{
		Limits:    lim,
		FerryPeer: !o.plain,
		Registry:  c.reg,
		Client:    ferry.ChainClient(o.interceptors...),
		Server:    ferry.ChainServer(o.serverInterceptors...),
		Limiter:   c.limiter,
		Control:   c.control,
		ConnContext: func(e *engine.Channel) context.Context {
			c.Conn = &Conn{eng: e}
			return context.WithValue(base, connKey{}, c.Conn)
		},
		OnGoAway:     func() { goAwayOnce.Do(c.onGoAway) },
		WriteTimeout: o.cfg.WriteTimeout,
		Logger:       o.logger,
	}
	if o.plain {
		// No session below: the engine's reader bounds what the server
		// makes it hold, and how long part of a message may stall, as a
		// server's does on a bare connection.
		eo.Budget = transport.NewBudget(o.cfg.ConnBudget(), nil)
		eo.StallTimeout = o.cfg.PartialMessageTimeout
		engine.New(nc, eo).Start()
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
		cause := sess.Cause()
		sess.Close()
		return nil, handshakeError(err, cause)
	}
	c.sess = sess
	// The handlers of streams the server opened see their contexts end
	// with the session, as the handlers of its calls do with the engine,
	// not only when the application closes the client.
	sess.OnEnd(c.cancelCtx)
	eo.Budget = sess.Budget()
	eo.StallTimeout = o.cfg.PartialMessageTimeout
	engine.New(st, eo).Start()
	c.limits = eo.Limits
	c.dialer = stream.Dialer{Session: sess, Limits: eo.Limits, Background: &c.bg, WriteTimeout: o.cfg.WriteTimeout,
		Budget: sess.Budget(), Stall: o.cfg.PartialMessageTimeout,
		Cancel: func(id uint32) error { return c.Conn.eng.SendControl(wire.MethodCancelStream, id) }}
	// Say hello at once: the server starts serving this stream (and runs
	// its connect hook) and authenticates the connection, and its answer
	// proves the session works before Dial returns. It tells the server
	// this side's message and nesting limits, and the answer the server's
	// (wire.HelloMax, wire.HelloDepth): neither sends the other a message
	// past either.
	type hello struct {
		Token  string `msgpack:"token,omitempty"`
		Settle bool   `msgpack:"settle"`          // answers $ferry.goaway with $ferry.settled
		Max    uint64 `msgpack:"max"`             // wire.HelloMaxKey
		Depth  uint64 `msgpack:"depth,omitempty"` // wire.HelloDepthKey, left out at the default
	}
	if err := c.eng.ControlCall(ctx, wire.MethodHello, hello{Token: o.token, Settle: true,
		Max: uint64(o.cfg.MaxMessageSize), Depth: wire.SaidDepth(o.cfg.MaxDepth)}, nil); err != nil {
		cause, ended := sess.Cause(), c.Err()
		c.Close()
		return nil, helloError(ctx, err, cause, ended)
	}
	sess.OnOpen(c.opened) // the accept loop runs only while streams arrive
	return c, nil
}

// onGoAway reacts to the server's $ferry.goaway: new calls fail at once,
// and once every stream open in progress has sent its opening frame, the
// client says so with $ferry.settled, so that a draining server knows no
// stream it has not seen is still on its way (PROTOCOL.md section 4). An
// open may wait for the server to take streams it holds, so the reader
// that delivered the go-away does not wait for it.
func (c *Client) onGoAway() {
	close(c.goingAway)
	if c.sess == nil {
		return
	}
	// Nothing to answer once Close has begun: the session is closing.
	c.bg.Go(func() {
		c.sess.Seal()
		_ = c.Conn.eng.SendControl(wire.MethodSettled, nil)
	})
}

// authenticateServer runs fn on the server's side of nc (its TLS state,
// if any) and returns the identity the client's handlers see.
func authenticateServer(ctx context.Context, nc net.Conn, fn ferry.AuthFunc) (any, error) {
	info := ferry.AuthInfo{RemoteAddr: nc.RemoteAddr()}
	if tc, ok := nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		info.TLS = &st
	}
	id, err := fn(ctx, info)
	if err != nil {
		fe := ferry.FromError(err)
		if fe.Code == ferry.CodeUnknown {
			fe = ferry.NewError(ferry.CodeUnauthenticated, fe.Message)
		}
		return nil, ferry.MarkNotExecuted(ferry.NewError(fe.Code, "the server's identity was refused: "+fe.Message))
	}
	return id, nil
}

// handshakeError explains a session that died before it was established,
// naming the cause the connection reported (a TLS alert, a reset).
func handshakeError(err, cause error) error {
	if cause == nil {
		cause = err
	}
	msg := "session handshake: " + strings.TrimPrefix(cause.Error(), "ferry: ")
	switch {
	case errors.Is(cause, transport.ErrHostilePeer):
		// This side closed it: what the server sent is no Ferry session.
		msg = "session handshake: the server does not speak Ferry's session protocol (is it a TLS-only port, or not a Ferry server?): " + cause.Error()
	case !tlsFailure(cause) && !localEnd(cause):
		// Closed, reset or broken before the hello's answer: the server
		// refused the connection.
		msg = "session handshake: the server closed the connection (is it a TLS-only port, at a connection limit, or not a Ferry server?): " + cause.Error()
	}
	return ferry.MarkNotExecuted(ferry.WrapError(tlsCode(cause), cause, msg))
}

// helloError explains a hello that failed with err: cause is the
// session's (nil while it works), ended the call stream's (nil while it
// works: err is then the server's answer, or ctx's end).
func helloError(ctx context.Context, err, cause, ended error) error {
	// The server's refusal of a hello is flagged not executed on the
	// wire; the engine's own failure when the peer closed the stream
	// ("may or may not have executed") can come before the call stream
	// has recorded its end (a FIN is a graceful half-close).
	answered := ended == nil && ferry.NotExecuted(err)
	if ended == nil {
		ended = err
	}
	var fe *ferry.Error
	switch done := ctxEnded(ctx, err); {
	case done != nil && cause == nil:
		// The session works, but no answer came in time.
		return ferry.MarkNotExecuted(ferry.WrapError(ferry.FromError(done).Code, done,
			"session handshake: the server had not answered the hello when ctx ended (is it a Ferry server?): "+done.Error()))
	case done != nil:
		// The session ended too (StreamOpenTimeout, which bounds New's
		// ctx as well): its cause says more.
	case errors.As(err, &fe) && (answered || fe.Code != ferry.CodeUnavailable):
		return ferry.MarkNotExecuted(fe) // the server answered: it refused the hello
	case cause == nil && brokeProtocol(ended):
		// The session works, but what came on the call stream was no
		// Ferry answer: this side closed it.
		return ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeUnavailable, err,
			"session handshake: the server's answer to the hello broke the protocol (is it a Ferry server?): "+strings.TrimPrefix(ended.Error(), "ferry: ")))
	case cause == nil:
		// The session works, but the server closed or reset the call
		// stream unanswered (a Ferry server at its memory budget, or
		// going away).
		return ferry.MarkNotExecuted(ferry.WrapError(ferry.CodeUnavailable, err,
			"session handshake: the server closed the session's first stream without answering the hello (is it at a limit, or going away?): "+
				strings.TrimSuffix(strings.TrimPrefix(ended.Error(), "ferry: "), ": the call may or may not have executed")))
	}
	return handshakeError(err, cause)
}

// ctxEnded returns ctx's error when err is the end of ctx (its deadline
// may have passed before its timer fired), nil otherwise: a call's own
// deadline error is no answer from the server.
func ctxEnded(ctx context.Context, err error) error {
	if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	if e := ctx.Err(); e != nil {
		return e
	}
	if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
		return context.DeadlineExceeded
	}
	return nil
}

// brokeProtocol reports whether this side ended a call stream for what
// the peer sent on it: a malformed message, or one past a limit.
func brokeProtocol(err error) bool {
	for _, e := range []error{wire.ErrMalformed, wire.ErrNotMessage, wire.ErrTooLarge, wire.ErrTooDeep, wire.ErrStalled, wire.ErrBudget} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// localEnd reports whether this side ended the session: the server did
// not acknowledge the call stream, answer a ping or read what was written
// in time.
func localEnd(err error) bool {
	return errors.Is(err, transport.ErrOpenTimeout) || errors.Is(err, transport.ErrWriteTimeout) || errors.Is(err, transport.ErrPingTimeout)
}

// tlsCode is the code of a failed connection: CodeUnauthenticated when a
// certificate was refused (this side could not verify the server's, or
// the server sent an alert refusing the client's: an unknown authority,
// expired, revoked, missing or bad certificate), otherwise
// CodeUnavailable.
func tlsCode(err error) ferry.Code {
	var cv *tls.CertificateVerificationError
	if errors.As(err, &cv) {
		return ferry.CodeUnauthenticated
	}
	if tlsFailure(err) && strings.Contains(err.Error(), "certificate") {
		return ferry.CodeUnauthenticated // an alert: bad, unknown, expired, revoked or required certificate
	}
	return ferry.CodeUnavailable
}

// tlsFailure reports whether err comes from TLS: an alert (crypto/tls
// reports one it received or sent over TCP as a *net.OpError whose Op is
// "remote error" or "local error", and one over QUIC as a tls.AlertError),
// a certificate that failed verification, or a record that is not TLS.
func tlsFailure(err error) bool {
	var alert tls.AlertError
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	if errors.As(err, &alert) || errors.As(err, &verify) || errors.As(err, &header) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error")
}

// Close ends the connection. Calls in flight fail at once with an error
// wrapping ferry.ErrClosed (a call still waiting for room in a full write
// queue, behind writes the server does not take, within Close's one
// second for the last writes), and the handlers of streams the server opened
// see their contexts canceled (as they do, without Close, once the
// connection ends). It returns after the client's goroutines exit, those
// handlers included.
func (c *Client) Close() error {
	c.once.Do(func() {
		grace := time.AfterFunc(time.Second, func() {
			c.nc.Close() // first: it unblocks a write stuck under the session
			if c.sess != nil {
				c.sess.Close()
			}
		})
		c.eng.Close()
		if c.sess != nil {
			c.sess.Close()
		}
		grace.Stop()
		c.nc.Close()
		c.cancelCtx()
		c.bg.Wait()
		c.smu.Lock()
		c.closing = true
		c.smu.Unlock()
		c.served.Wait()
	})
	return nil
}

// MaxMessageSize returns the largest message the client receives: its
// transport.Config's MaxMessageSize (4 MiB by default). It sends nothing
// larger either, nor larger than the server's own limit, which the
// server's answer to the client's hello tells (PROTOCOL.md section 4;
// with WithPlainMsgpackRPC there is no hello, and the server's limit is
// unknown): a request past either fails with CodeResourceExhausted, not
// executed.
// Package pubsub tells the broker, so that no batch a subscriber could not
// receive is sent to it.
func (c *Client) MaxMessageSize() int { return c.cfg.MaxMessageSize }

// GoingAway is closed when the server announces that it is shutting down:
// calls started from then on fail at once with CodeUnavailable and
// ferry.NotExecuted true, while each call already sent is answered or, if
// the server closed before reading it, fails as not executed too
// (PROTOCOL.md, "Going away"). Balancers use it to drain a connection
// without failing calls.
func (c *Client) GoingAway() <-chan struct{} { return c.goingAway }

// Register publishes the exported methods of rcvr for the server to call
// back over this connection, exactly as server.Server.Register does.
func (c *Client) Register(rcvr any) error { return c.RegisterName("", rcvr) }

// RegisterName is Register with name in place of the type's name.
func (c *Client) RegisterName(name string, rcvr any) error {
	ms, err := registry.Reflect(name, rcvr)
	if err != nil {
		return err
	}
	return c.reg.Add(ms...)
}

// Handle registers a type-checked handler that the server can call back
// over c's connection.
func Handle[Req, Resp any](c *Client, name string, fn func(context.Context, *Req) (*Resp, error)) error {
	if fn == nil {
		return registry.NilHandler(name)
	}
	return c.reg.Add(registry.Typed(name, fn))
}
