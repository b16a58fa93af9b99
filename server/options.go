package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/transport"
)

// Option configures a Server.
type Option func(*options) error

type options struct {
	cfg                transport.Config
	interceptors       []ferry.ServerInterceptor
	clientInterceptors []ferry.ClientInterceptor
	streamICs          []ferry.StreamServerInterceptor // WithStreamInterceptors
	streamClientICs    []ferry.StreamClientInterceptor // WithStreamClientInterceptors
	maxCalls           int
	logger             *slog.Logger
	onConnect          func(*Peer)
	onDisconnect       func(*Peer)
	tls                *tls.Config
	auth               ferry.AuthFunc
	maxConns, perIP    int
	memory             int64 // server-wide memory budget; 0: the default
	strictFields       bool
	onRefused          func(method string, err *ferry.Error)
}

func defaultOptions() options {
	total, perIP := DefaultConnLimits()
	return options{cfg: transport.DefaultConfig(), maxCalls: 1024, maxConns: total, perIP: perIP}
}

// connMemory is the share of the Go memory limit the default connection
// bound gives each connection: a quiet session holds 25–41 KiB, and a
// quarter of the limit goes to the memory budget (DefaultMemoryBudget).
const connMemory = 64 << 10

// DefaultConnLimits returns the connection bounds when WithConnLimits is
// not given: 10,000 in total and 2,500 per IP; or, when the process has a
// Go memory limit (debug.SetMemoryLimit, GOMEMLIMIT) under 625 MiB, one
// connection per 64 KiB of it (at least 256) in total, and a quarter of
// that per IP. With a 192 MiB limit: 3,072 in total, 768 per IP. The
// total is never more than the process's open-file limit (RLIMIT_NOFILE,
// on Unix systems) less an eighth of it or less 64, whichever leaves
// fewer, for the process's other files (and at least 1; the per-IP bound
// too): connections past that bound are shed by its rules instead of
// failing the server's Accept for want of a file descriptor. With a
// limit of 256 files: 192 in total, 48 per IP.
func DefaultConnLimits() (total, perIP int) {
	total = 10000
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		total = int(min(max(lim/connMemory, 256), int64(total)))
	}
	if files := openFileLimit(); files > 0 {
		total = max(min(total, files-max(files/8, 64)), 1)
	}
	return total, max(total/4, 1)
}

// DefaultMemoryBudget is the server-wide memory budget when WithMemoryBudget
// is not given: a quarter of the process's Go memory limit (debug.SetMemoryLimit,
// GOMEMLIMIT), but at least 16 MiB, when one is set, otherwise 128 MiB.
func DefaultMemoryBudget() int64 {
	if lim := debug.SetMemoryLimit(-1); lim > 0 && lim < math.MaxInt64 {
		return max(lim/4, 16<<20)
	}
	return 128 << 20
}

// WithMemoryBudget bounds the bytes that all connections together can make
// the server hold (each connection is also bounded by
// transport.Config.MemoryBudget, 64 MiB by default). What counts: data
// buffered for streams, partial messages, arguments of calls queued or
// running (at an estimate of their decoded size), replies not yet written. When a call
// would pass it, the call is refused with CodeResourceExhausted and
// ferry.NotExecuted true; when bytes that already arrived pass it, the
// server ends the connection holding the most (logged), so the others keep
// being served. A connection it ends keeps what it holds, outside the
// budget, until its goroutines have exited: many ended at once (a peer
// reconnecting as fast as it is shed) can make the server hold about
// twice the budget for a moment (a 9 MiB budget peaked at 15.4-17.7 MiB
// in use in six runs of e2e's TestPoolCrowd, 24 attacking connections
// at a time). Default DefaultMemoryBudget(); range 1 MiB to 1 TiB. A
// budget below 2 × transport.Config.MaxMessageSize + 1 MiB (9 MiB by
// default) is raised to that, as each connection's is
// (transport.Config.ConnBudget), so that one message of the largest size
// always fits.
func WithMemoryBudget(bytes int64) Option {
	return func(o *options) error {
		if bytes < 1<<20 || bytes > 1<<40 {
			return fmt.Errorf("ferry: memory budget %d is outside 1 MiB..1 TiB", bytes)
		}
		o.memory = bytes
		return nil
	}
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

// WithInterceptors appends server interceptors; the first is outermost.
func WithInterceptors(ics ...ferry.ServerInterceptor) Option {
	return func(o *options) error {
		o.interceptors = append(o.interceptors, ics...)
		return nil
	}
}

// WithMaxConcurrentCalls bounds the handlers running at once for one
// connection (all its streams together). Up to n more calls wait in a
// queue for a slot (their deadlines keep running: a call whose deadline
// passes, or whose caller cancels it, while it waits never runs, and
// leaves the queue at once, its place free for the next call); a call
// beyond that is refused at once with CodeResourceExhausted and
// ferry.NotExecuted true, so the caller may retry. Streaming calls take a
// slot but never queue. The connection also keeps at most n handler
// goroutines idle between calls, for its next ones (all its streams
// together). Default 1024; range 1 to 1,048,576.
func WithMaxConcurrentCalls(n int) Option {
	return func(o *options) error {
		if n < 1 || n > 1<<20 {
			return fmt.Errorf("ferry: max concurrent calls %d is outside 1..1048576", n)
		}
		o.maxCalls = n
		return nil
	}
}

// WithLogger sends the server's and the transport's log lines to l.
// Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		o.logger = l
		o.cfg.Logger = l
		return nil
	}
}

// WithClientInterceptors appends interceptors around the calls the server
// makes to its clients through a Peer; the first is outermost.
func WithClientInterceptors(ics ...ferry.ClientInterceptor) Option {
	return func(o *options) error {
		o.clientInterceptors = append(o.clientInterceptors, ics...)
		return nil
	}
}

// WithConnHooks sets functions called when a client connects and after it
// has gone; either may be nil. A client counts as connected once the
// server knows what it speaks: a bare MessagePack-RPC client at its first
// byte, a session at the first byte of each call stream it opens, each
// with a Peer of its own (a Ferry client opens one, and says hello on it,
// within Dial). A connection that sends nothing within
// transport.Config.SniffTimeout is closed with neither hook called.
// onConnect runs in its own goroutine per
// connection (call stream) while calls are already being served; it may keep the Peer
// and call the client at any time (push), from the start: a Ferry client
// registers the handlers such calls need before it connects
// (client.WithHandlers). A call or stream the server starts on a Ferry
// session before the client's hello has arrived waits for it (it comes
// with the session's first bytes; a session without a complete message
// within SniffTimeout is closed), so that it keeps to the client's
// MaxMessageSize and MaxDepth, which the hello tells. onDisconnect runs once the
// connection has ended and its handlers have returned. Unlike a handler's,
// a panic in either is not recovered: it ends the program, as in any
// goroutine of its own.
func WithConnHooks(onConnect, onDisconnect func(*Peer)) Option {
	return func(o *options) error {
		o.onConnect, o.onDisconnect = onConnect, onDisconnect
		return nil
	}
}

// WithTLS serves every connection over TLS with cfg (set ClientAuth and
// ClientCAs for mutual TLS; package auth/pemfile builds such a config from
// PEM files and reloads them when they change). Both protocols (Ferry
// sessions and bare MessagePack-RPC) are served inside TLS on the same
// port; a plaintext client is refused during the handshake. Default:
// plaintext.
//
// It fails closed: a config with MinVersion or MaxVersion set below TLS
// 1.2, with InsecureSkipVerify, or that verifies client certificates
// (ClientAuth) with no ClientCAs (Go would then accept any certificate
// from a public CA) is an error, reported by Serve and ServeConn like
// every invalid option; so is, at handshake time, a config that
// GetConfigForClient returns with any of these (the handshake fails and
// is logged). MinVersion 0 means TLS 1.2, Go's default for
// servers; TLS 1.3 is preferred whenever the client offers it.
func WithTLS(cfg *tls.Config) Option {
	return func(o *options) error {
		if cfg == nil || (len(cfg.Certificates) == 0 && cfg.GetCertificate == nil && cfg.GetConfigForClient == nil) {
			return errors.New("ferry: WithTLS needs a tls.Config with a certificate")
		}
		if err := checkTLS(cfg); err != nil {
			return err
		}
		if get := cfg.GetConfigForClient; get != nil {
			cfg = cfg.Clone()
			cfg.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
				c, err := get(hello)
				if err != nil || c == nil {
					return c, err
				}
				return c, checkTLS(c)
			}
		}
		o.tls = cfg
		return nil
	}
}

// checkTLS refuses a server TLS config that is unsafe.
func checkTLS(cfg *tls.Config) error {
	switch {
	case cfg.MinVersion != 0 && cfg.MinVersion < tls.VersionTLS12:
		return fmt.Errorf("ferry: WithTLS: MinVersion %s is below TLS 1.2", tls.VersionName(cfg.MinVersion))
	case cfg.MaxVersion != 0 && cfg.MaxVersion < tls.VersionTLS12:
		return fmt.Errorf("ferry: WithTLS: MaxVersion %s is below TLS 1.2", tls.VersionName(cfg.MaxVersion))
	case cfg.InsecureSkipVerify:
		return errors.New("ferry: WithTLS: InsecureSkipVerify is set; a server must not carry it (verify client certificates with ClientAuth and ClientCAs)")
	case (cfg.ClientAuth == tls.VerifyClientCertIfGiven || cfg.ClientAuth == tls.RequireAndVerifyClientCert) &&
		cfg.ClientCAs == nil && cfg.GetConfigForClient == nil && cfg.VerifyPeerCertificate == nil:
		return errors.New("ferry: WithTLS: ClientAuth verifies client certificates but ClientCAs is nil, so any certificate from a public CA would pass: set ClientCAs")
	}
	return nil
}

// WithAuth authenticates every connection with fn before any of its calls
// is decoded: after the TLS handshake and the client's hello (which
// carries client.WithToken's token), within the transport's SniffTimeout.
// Until then a connection accepts messages of at most 4 KiB and answers
// every call with CodeUnauthenticated; if fn fails, the client's Dial
// fails with fn's error. Bare MessagePack-RPC clients are authenticated
// at connect with TLS information and no token (they may send the hello
// themselves: a request "$ferry.hello" with params [{"token": "..."}]).
// fn runs at most 3 times on one connection (the bare client's check at
// connect counts): later hellos are refused with CodeUnauthenticated
// without running it, so a connection cannot try token after token.
// Handlers find the identity fn returned with ferry.IdentityFromContext.
// Package auth has ready AuthFuncs (tokens, client certificates) and a
// per-method authorization policy. Default: no authentication.
func WithAuth(fn ferry.AuthFunc) Option {
	return func(o *options) error {
		o.auth = fn
		return nil
	}
}

// WithConnLimits bounds the connections served at once, in total and from
// one IP address. When a new connection would pass either bound, one
// connection (from that IP, for the per-IP bound) is closed to make room:
// the oldest that has not sent a complete message within 500 ms of
// connecting; else a quiet one (ConnInfo.QuietSince in Server.Conns:
// nothing arrived on it for at least 250 ms, no call in progress either
// way, no stream open but its call streams) from the address holding the
// most connections, quiet the longest, after a go-away (a call it sent
// just then is refused as not executed); else the oldest that has not sent
// a complete message yet; else, at the total bound, the newest of the
// address holding the most, busy or not (after a go-away), if it holds at
// least two more than the new one's address. A flood of idle, stalled,
// silent or busy connections from a few addresses cannot lock well-behaved
// clients out: only when every connection is busy and no address holds two
// more than the new one's is it closed at accept. Past 1,024 connections, the choice is
// made among 1,024 taken from a random place. Zero disables a bound.
// Default DefaultConnLimits(): 10,000 in total and 2,500 per IP without a
// Go memory limit or an open-file limit below 11,428 (fewer under
// either), so that one source cannot take more than a quarter of the
// server. Clients behind one NAT share their address's bound: raise
// perIP (or set 0) for such fleets.
func WithConnLimits(total, perIP int) Option {
	return func(o *options) error {
		if total < 0 || perIP < 0 {
			return errors.New("ferry: connection limits must not be negative")
		}
		o.maxConns, o.perIP = total, perIP
		return nil
	}
}

// WithDisallowUnknownFields refuses, with CodeInvalidArgument, a call
// whose arguments hold a map key that names no field of the struct it is
// decoded into (like encoding/json's Decoder.DisallowUnknownFields).
// Default: such keys are skipped, so that an older server accepts a newer
// client's added fields; a map none of whose keys names a field of the
// arguments' struct is refused either way.
func WithDisallowUnknownFields() Option {
	return func(o *options) error {
		o.strictFields = true
		return nil
	}
}

// WithRefused calls fn for every call refused before a handler ran: on a
// connection not yet authenticated, for a method not registered, with
// arguments that do not decode or fit, over a memory or concurrency
// limit, whose deadline passed or whose caller canceled it while it
// waited for a handler, or while the server shuts down; streams too (also
// one opened for a unary method). method is the registered method's
// name, or "" for a name that is not registered (the peer's text is not
// passed on: it is unbounded); err is the error sent back (notifications
// get none, but are reported too). fn runs on the connection's reader, or
// on the goroutine that would have run the handler for a call that ended
// while it waited (for a stream, on the stream's goroutine): it may run
// for several calls at once, and must not block; unlike a handler's, a
// panic in it is not recovered (it ends the program). Interceptors never see these
// calls. Default: none.
func WithRefused(fn func(method string, err *ferry.Error)) Option {
	return func(o *options) error {
		o.onRefused = fn
		return nil
	}
}
