package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/transport"
)

// Option configures a Client.
type Option func(*options) error

type options struct {
	cfg                transport.Config
	interceptors       []ferry.ClientInterceptor
	serverInterceptors []ferry.ServerInterceptor
	streamICs          []ferry.StreamClientInterceptor // WithStreamInterceptors
	streamServerICs    []ferry.StreamServerInterceptor // WithStreamServerInterceptors
	maxCalls           int
	plain              bool
	logger             *slog.Logger
	tls                *tls.Config
	token              string
	insecureToken      bool // WithInsecureToken
	serverAuth         ferry.AuthFunc
	handlers           []func(*Client) error // WithHandlers
}

// WithConfig sets the transport tuning (message size, timeouts, windows).
// Default transport.DefaultConfig(); it must pass Config.Validate.
func WithConfig(cfg transport.Config) Option {
	return func(o *options) error {
		if err := cfg.Validate(); err != nil {
			return err
		}
		logger := o.cfg.Logger
		o.cfg = cfg
		if cfg.Logger == nil {
			o.cfg.Logger = logger
		}
		return nil
	}
}

// WithInterceptors appends client interceptors; the first is outermost.
// An interceptor that panics in a Go call (which runs the interceptors in
// a goroutine of its own) fails that call with CodeInternal, flagged
// ferry.NotExecuted when no interceptor had called next yet (nothing was
// sent); in Call, the panic reaches the caller.
func WithInterceptors(ics ...ferry.ClientInterceptor) Option {
	return func(o *options) error {
		o.interceptors = append(o.interceptors, ics...)
		return nil
	}
}

// WithPlainMsgpackRPC speaks bare MessagePack-RPC on the connection, with
// no session and no Ferry extensions, so the client can call any
// MessagePack-RPC server (Neovim, a Python or Node server). Deadlines then
// bound only the local wait, and cancellation does not reach the server.
// With no hello, neither side learns the other's message size limit: a
// request past the client's own MaxMessageSize is still refused before it
// is sent, but one past the server's limit, or a reply past the client's,
// ends the connection, every call on it failing with CodeUnavailable.
// Default off: Ferry's session protocol.
func WithPlainMsgpackRPC() Option {
	return func(o *options) error {
		o.plain = true
		return nil
	}
}

// WithLogger sends the client's and the transport's log lines to l.
// Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		o.cfg.Logger = l
		return nil
	}
}

// WithServerInterceptors appends interceptors around the calls the server
// makes to this client's registered handlers; the first is outermost.
func WithServerInterceptors(ics ...ferry.ServerInterceptor) Option {
	return func(o *options) error {
		o.serverInterceptors = append(o.serverInterceptors, ics...)
		return nil
	}
}

// WithMaxConcurrentCalls bounds the handlers running at once for calls the
// server makes to this client. Up to n more wait in a queue (a call whose
// deadline passes, or whose caller cancels it, while it waits never runs);
// beyond that, calls are refused with CodeResourceExhausted and
// ferry.NotExecuted true.
// Streams the server opens take a slot too, but never queue. Default
// 1024; range 1 to 1,048,576.
func WithMaxConcurrentCalls(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1<<20 {
			return fmt.Errorf("ferry: max concurrent calls %d is outside 1..1048576", n)
		}
		o.maxCalls = n
		return nil
	}
}

// WithTLS dials over TLS with cfg (set Certificates for mutual TLS, and
// ServerName when dialing an IP). The handshake completes within Dial's
// ctx, and its failures (unknown authority, expired or misnamed
// certificate, a refused client certificate) make Dial fail with the
// cause, as CodeUnauthenticated with ferry.NotExecuted true (other
// handshake failures are CodeUnavailable). Package auth/pemfile builds a
// config from PEM files that it reloads when they change. Default:
// plaintext.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil {
			return errors.New("ferry: WithTLS needs a tls.Config")
		}
		o.tls = cfg
		return nil
	}
}

// WithToken sends token in the connection's hello, for a server that
// authenticates connections (server.WithAuth). The token is never logged
// or printed. Without WithTLS it would cross the network as plain bytes
// that anyone on the path can read and replay, so Dial and New refuse to
// send it to a peer that is not on this machine: a TCP or UDP address
// that is not loopback, on a connection that is not TLS (one whose type
// has a ConnectionState method, such as *tls.Conn). They fail before any
// byte is written, with CodeUnauthenticated, ferry.NotExecuted true, and
// an error wrapping ErrTokenWithoutTLS. Loopback, unix sockets and
// in-memory pipes are allowed; WithInsecureToken allows the rest (a
// connection secured some other way). A client that speaks bare
// MessagePack-RPC (WithPlainMsgpackRPC) sends no hello and no token.
// Default: none.
func WithToken(token string) Option {
	return func(o *options) error {
		o.token = token
		return nil
	}
}

// WithInsecureToken lets WithToken's token go in plain text to a peer
// that is not on this machine: for a connection secured below Ferry (a
// VPN, an SSH tunnel, a conn handed to New that wraps TLS without being a
// *tls.Conn), or a network where reading it is harmless. Default: such a
// Dial or New fails with ErrTokenWithoutTLS.
func WithInsecureToken() Option {
	return func(o *options) error {
		o.insecureToken = true
		return nil
	}
}

// WithServerAuth checks the server with fn once the connection is made
// (after the TLS handshake, before the session starts): fn sees the
// server's address and TLS state, with the server's verified chain in
// TLS.VerifiedChains when the config verified it (AuthInfo.Token is
// empty). If fn fails, Dial fails with CodeUnauthenticated (or fn's code)
// and ferry.NotExecuted true. The identity fn returns is what the
// client's handlers find with ferry.IdentityFromContext when the server
// calls them, so that an authorization policy on the client
// (WithServerInterceptors) can name the server. For example,
// auth.Certificates("spiffe://example.org/server") accepts only a server
// whose certificate carries that SPIFFE ID. Default: none; handlers see no
// identity.
func WithServerAuth(fn ferry.AuthFunc) Option {
	return func(o *options) error {
		if fn == nil {
			return errors.New("ferry: WithServerAuth needs a function")
		}
		o.serverAuth = fn
		return nil
	}
}

// WithHandlers calls register with the new Client before its connection
// starts serving, so that the handlers it registers (Client.Register,
// Handle, HandleStream, HandleBidi, ...) exist when the server first calls
// back: a server's connect hook (server.WithConnHooks) may call the client
// as soon as it connects, before Dial returns, and a method registered
// after Dial can miss such calls (they fail as unimplemented, not
// executed). An error from register fails Dial, and the connection is
// closed. Several WithHandlers run in order.
func WithHandlers(register func(c *Client) error) Option {
	return func(o *options) error {
		if register == nil {
			return errors.New("ferry: WithHandlers needs a function")
		}
		o.handlers = append(o.handlers, register)
		return nil
	}
}
