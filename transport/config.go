package transport

import (
	"errors"
	"fmt"
	"github.com/ferryrpc/ferry/internal/wire"
	"io"
	"log/slog"
	"time"

	"github.com/hashicorp/yamux"
)

// Config holds low-level tuning shared by clients and servers. Start from
// DefaultConfig and change fields; Validate reports values out of range.
type Config struct {
	// MaxMessageSize bounds one MessagePack-RPC message in bytes (a
	// request's or response's whole envelope), and one streaming
	// message's frame. A side rejects a message it receives past its own
	// limit, which closes the stream it came on. In a session the two
	// sides tell each other their limits in the hello (PROTOCOL.md
	// section 4) and each sends nothing past the smaller one: a request
	// past it fails at the caller with CodeResourceExhausted, not
	// executed, and a reply past it is replaced by a
	// CodeResourceExhausted error (the handler ran), so that one message
	// never ends the stream every unary call shares. Default 4 MiB;
	// range 1 KiB to 1 GiB.
	MaxMessageSize int
	// MaxDepth bounds the nesting of arrays and maps in a message, read
	// or sent (a unary request nested deeper fails at the caller, not
	// executed; a reply is replaced by a CodeResourceExhausted error). In
	// a session the two sides tell each other their MaxDepth in the hello
	// too, and neither sends a message, unary or streaming, nested
	// deeper than the smaller one. Default 64; range 4 to 1000.
	MaxDepth int
	// KeepAliveInterval is how often an idle session is pinged; a dead
	// peer is noticed within about KeepAliveInterval + WriteTimeout.
	// Default 15 s; zero disables keepalives (negative is invalid).
	KeepAliveInterval time.Duration
	// WriteTimeout bounds every write; a write that cannot finish in time
	// breaks what it writes to: the connection, for a write to the socket;
	// a stream, for a write that waits for the stream's window (a call
	// stream is closed, which ends a Ferry client's connection; a
	// streaming call's own stream ends that call). Every writer (a call
	// stream's, a streaming call's, the session's own) re-arms its
	// deadline only once less than 7/8 of it is left, so a write may be
	// cut after 7/8 of WriteTimeout. A stream's reader grants window in
	// steps of half its StreamWindow, so a streaming call whose reader
	// takes less than that per WriteTimeout, however steadily, ends once
	// its window is full. Default 10 s; range 100 ms to 10 min.
	WriteTimeout time.Duration
	// StreamCloseTimeout is how long a stream this side closed may keep
	// what the peer sends on it while waiting for the peer's close; then
	// that data is dropped (a stream the peer never closes keeps about
	// 1 KiB, charged to MemoryBudget, until the session ends). Default 15 s;
	// must be positive.
	StreamCloseTimeout time.Duration
	// StreamOpenTimeout bounds how long a stream this side opened may go
	// unacknowledged by the peer: once it passes, the whole session is
	// closed (yamux's rule; a Ferry peer acknowledges every stream as it
	// arrives). Opening does not wait for the acknowledgement (see
	// Session.Open). A client also bounds its handshake by it: a client
	// started with client.New by StreamOpenTimeout, client.Dial with a
	// ctx that has no deadline by 1.25 × StreamOpenTimeout. Default 10 s;
	// must be positive.
	StreamOpenTimeout time.Duration
	// AcceptBacklog bounds streams opened by the peer and not yet
	// accepted (more are refused), and the streams this side opens that
	// the peer has not accepted yet (more wait). Default 64: Ferry accepts
	// every stream as it arrives, and a Ferry peer with the same backlog
	// never has more than that many unaccepted; each unit costs 8 bytes
	// per session, idle or not. Range 1 to 65536.
	AcceptBacklog int
	// StreamWindow is the per-stream flow-control window in bytes: more
	// window means more bulk throughput and more memory per busy stream.
	// Every stream starts at yamux's 256 KiB, and each side raises its
	// receiving half to StreamWindow at once, in the frame that opens or
	// accepts the stream. Default 1 MiB (1 MiB echoes ran at about twice
	// the rate of 256 KiB on loopback; a stream that stops reading holds
	// at most this much, charged twice to MemoryBudget, so 32 stalled
	// streams fill the default budget); range 256 KiB to 64 MiB.
	StreamWindow uint32
	// SniffTimeout bounds a new connection's handshake on a server: the
	// TLS handshake, the first byte, and (with authentication) the
	// client's hello; and, in a session, the set-up of each stream the
	// client opens: its first byte and, for a streaming call, its whole
	// opening request must arrive within SniffTimeout of its accept.
	// Default 10 s; must be positive.
	SniffTimeout time.Duration
	// MaxStreams bounds the streams a peer may keep open at once in one
	// session (call streams and streaming calls); a stream beyond it is
	// refused at once, unread: answered with the final status of a
	// streaming call refused with CodeResourceExhausted, not executed (or,
	// while 16 such answers are being written, closed unanswered).
	// Default 1024; range 1 to 65536.
	MaxStreams int
	// MemoryBudget bounds the bytes one connection can make this side
	// hold: data buffered for its streams (open ones, and ones closed or
	// refused until the peer closes them too or StreamCloseTimeout
	// passes; counted twice, for the slack of the growing buffers that
	// hold it), partial messages in the readers and the goroutines
	// reading them (8 KiB while a stream is set up, 8 KiB for each running
	// call-stream reader), arguments of calls queued for or running in a
	// handler (at an estimate of their decoded size, plus 16 KiB each for
	// the handler's stack), streaming calls while their handler runs
	// (16 KiB each), and replies waiting to be written. A call that would pass it is refused
	// with CodeResourceExhausted and ferry.NotExecuted true; bytes that have
	// already arrived past it end the session (or bare connection), logged
	// with ErrMemoryBudget. Default 64 MiB; range 1 MiB to 64 GiB. A
	// budget below 2 × MaxMessageSize + 1 MiB is raised to that, so that
	// one message of the largest size always fits (see ConnBudget).
	MemoryBudget int64
	// PartialMessageTimeout bounds how long a stream or bare connection
	// may hold part of a message without sending more of it: one that
	// stalls mid-message longer is closed (on a streaming call, either
	// side's, Recv then fails with CodeUnavailable and nothing more is
	// read). Default 10 s; range 100 ms to 10 min.
	PartialMessageTimeout time.Duration
	// Logger receives the transport's own log lines (yamux's included,
	// at level Warn, at most 20 at once and 5 a second after that per
	// session: a peer can make yamux log a line per stream it sends).
	// Default nil: silent.
	Logger *slog.Logger
}

// DeadPeerTimeout is how long a connection may go unanswered before it is
// declared dead: KeepAliveInterval + WriteTimeout, or WriteTimeout alone
// without keepalives. Ferry sets it as TCP_USER_TIMEOUT on the TCP
// connections it dials and accepts (Linux), so the kernel also breaks a
// connection whose sent data stays unacknowledged that long.
func (c Config) DeadPeerTimeout() time.Duration { return c.KeepAliveInterval + c.WriteTimeout }

// ConnBudget is the memory budget of one connection: MemoryBudget, raised
// to 2 × MaxMessageSize + 1 MiB if it is smaller.
func (c Config) ConnBudget() int64 {
	return max(c.MemoryBudget, 2*int64(c.MaxMessageSize)+1<<20)
}

// DefaultConfig returns the production defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		MaxMessageSize:     wire.DefaultMaxMessage,
		MaxDepth:           wire.DefaultMaxDepth,
		KeepAliveInterval:  15 * time.Second,
		WriteTimeout:       10 * time.Second,
		StreamCloseTimeout: 15 * time.Second,
		StreamOpenTimeout:  10 * time.Second,
		AcceptBacklog:      64,
		StreamWindow:       1 << 20,
		SniffTimeout:       10 * time.Second,
		MaxStreams:         1024,

		MemoryBudget:          64 << 20,
		PartialMessageTimeout: 10 * time.Second,
	}
}

// Validate reports the first field outside its documented range.
func (c Config) Validate() error {
	switch {
	case c.MaxMessageSize < wire.MinMaxMessage || c.MaxMessageSize > 1<<30:
		return fmt.Errorf("ferry: MaxMessageSize %d is outside 1 KiB..1 GiB", c.MaxMessageSize)
	case c.MaxDepth < wire.MinMaxDepth || c.MaxDepth > 1000:
		return fmt.Errorf("ferry: MaxDepth %d is outside 4..1000", c.MaxDepth)
	case c.KeepAliveInterval < 0:
		return errors.New("ferry: KeepAliveInterval is negative")
	case c.WriteTimeout < 100*time.Millisecond || c.WriteTimeout > 10*time.Minute:
		return fmt.Errorf("ferry: WriteTimeout %v is outside 100ms..10m", c.WriteTimeout)
	case c.StreamCloseTimeout <= 0 || c.StreamOpenTimeout <= 0 || c.SniffTimeout <= 0:
		return errors.New("ferry: stream and sniff timeouts must be positive")
	case c.AcceptBacklog < 1 || c.AcceptBacklog > 65536:
		return fmt.Errorf("ferry: AcceptBacklog %d is outside 1..65536", c.AcceptBacklog)
	case c.MaxStreams < 1 || c.MaxStreams > 65536:
		return fmt.Errorf("ferry: MaxStreams %d is outside 1..65536", c.MaxStreams)
	case c.StreamWindow < 256<<10 || c.StreamWindow > 64<<20:
		return fmt.Errorf("ferry: StreamWindow %d is outside 256 KiB..64 MiB", c.StreamWindow)
	case c.MemoryBudget < 1<<20 || c.MemoryBudget > 64<<30:
		return fmt.Errorf("ferry: MemoryBudget %d is outside 1 MiB..64 GiB", c.MemoryBudget)
	case c.PartialMessageTimeout < 100*time.Millisecond || c.PartialMessageTimeout > 10*time.Minute:
		return fmt.Errorf("ferry: PartialMessageTimeout %v is outside 100ms..10m", c.PartialMessageTimeout)
	}
	return nil
}

func (c Config) yamux() *yamux.Config {
	y := yamux.DefaultConfig()
	y.AcceptBacklog = c.AcceptBacklog
	// The session pings from a timer instead (keepalive.go): yamux's
	// keepalive parks a goroutine per session.
	y.EnableKeepAlive = false
	y.ConnectionWriteTimeout = c.WriteTimeout
	y.MaxStreamWindowSize = c.StreamWindow
	// yamux's own close timer would keep the stream, and through it the
	// whole session with every buffer of every stream, alive for the
	// timeout even after the session has ended; the accounts do the job
	// instead (account.go).
	y.StreamCloseTimeout = 0
	y.StreamOpenTimeout = c.StreamOpenTimeout
	if c.Logger != nil {
		y.LogOutput = nil
		y.Logger = newYamuxLog(c.Logger) // rate-limited (yamuxlog.go)
	} else {
		y.LogOutput = io.Discard
	}
	return y
}

// yamuxFor is yamux's configuration for a session whose guard is g: its
// lines pass through an endLog, which notes why the session ends.
func (c Config) yamuxFor(g *guard) *yamux.Config {
	y := c.yamux()
	next, _ := y.Logger.(*yamuxLog)
	y.LogOutput, y.Logger = nil, endLog{g: g, next: next}
	return y
}
