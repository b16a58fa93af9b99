package transport

import (
	"fmt"
	"log"
	"log/slog"
	"sync"
)

// yamux's log lines, per session: at most yamuxLogBurst at once and
// yamuxLogRate a second after that. yamux logs a line for every stream it
// refuses past the accept backlog, and for other per-frame events a peer
// controls, so a raw peer opening streams in bursts could otherwise make
// the server write thousands of lines a second.
const (
	yamuxLogRate  = 5
	yamuxLogBurst = 20
)

// yamuxLog is the yamux.Logger of one session: it passes yamux's lines to
// the configured slog.Logger at level Warn, rate-limited; the first line
// let through after some were dropped says how many.
type yamuxLog struct {
	out *log.Logger

	mu      sync.Mutex
	tokens  bucket
	dropped int
}

func newYamuxLog(l *slog.Logger) *yamuxLog {
	return &yamuxLog{out: slog.NewLogLogger(l.Handler(), slog.LevelWarn),
		tokens: bucket{rate: yamuxLogRate, burst: yamuxLogBurst, tokens: yamuxLogBurst}}
}

func (y *yamuxLog) emit(msg string) {
	y.mu.Lock()
	if !y.tokens.take() {
		y.dropped++
		y.mu.Unlock()
		return
	}
	dropped := y.dropped
	y.dropped = 0
	y.mu.Unlock()
	if dropped > 0 {
		msg = fmt.Sprintf("%s (%d earlier yamux lines of this session dropped)", msg, dropped)
	}
	y.out.Print(msg)
}

// Print, Printf and Println make yamuxLog a yamux.Logger.
func (y *yamuxLog) Print(v ...any) { y.emit(fmt.Sprint(v...)) }

// Printf logs like fmt.Sprintf.
func (y *yamuxLog) Printf(format string, v ...any) { y.emit(fmt.Sprintf(format, v...)) }

// Println logs like fmt.Sprintln.
func (y *yamuxLog) Println(v ...any) { y.emit(fmt.Sprintln(v...)) }

// openTimeoutLine is the format of the line yamux v0.1.2 logs just before
// it closes a session because a stream it opened went unacknowledged for
// StreamOpenTimeout; it tells that end from others in no other way.
const openTimeoutLine = "[ERR] yamux: aborted stream open (destination=%s): %v"

// windowLine is the format of the line yamux v0.1.2 logs just before it
// closes a session whose peer sent more on a stream than its window.
const windowLine = "[ERR] yamux: receive window exceeded (stream: %d, remain: %d, recv: %d)"

// errPastWindow is the cause of a session whose peer sent past a stream's
// window.
var errPastWindow = fmt.Errorf("%w: it sent more on a stream than the stream's window", ErrHostilePeer)

// endLog is the yamux.Logger of every session: it records the session's
// cause when yamux closes it for an unacknowledged stream or a peer that
// sent past a window, and passes every line on to next (nil: none).
type endLog struct {
	g    *guard
	next *yamuxLog
}

// Print passes the line on.
func (e endLog) Print(v ...any) {
	if e.next != nil {
		e.next.Print(v...)
	}
}

// Printf notes an aborted stream open or a peer that sent past a window,
// and passes the line on.
func (e endLog) Printf(format string, v ...any) {
	switch format {
	case openTimeoutLine:
		e.g.ended(ErrOpenTimeout)
	case windowLine:
		e.g.ended(errPastWindow)
	}
	if e.next != nil {
		e.next.Printf(format, v...)
	}
}

// Println passes the line on.
func (e endLog) Println(v ...any) {
	if e.next != nil {
		e.next.Println(v...)
	}
}
