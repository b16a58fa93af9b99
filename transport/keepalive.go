package transport

import (
	"log/slog"
	"sync"
	"time"
)

// keepalive pings the peer every interval and ends the session when a ping
// is not answered within the write timeout (yamux's Ping waits that long),
// as yamux's own keepalive does; but it runs from a timer, so that between
// pings no goroutine waits for the next one (yamux parks one per session).
// After each ping it releases the empty receive buffers of open streams.
type keepalive struct {
	s       *Session
	every   time.Duration
	logger  *slog.Logger
	mu      sync.Mutex
	t       *time.Timer // nil before start and once stopped
	stopped bool
	pinging sync.WaitGroup
}

// start schedules the first ping, unless the session already ended.
func (k *keepalive) start() {
	k.mu.Lock()
	if !k.stopped {
		k.t = time.AfterFunc(k.every, k.ping)
	}
	k.mu.Unlock()
}

// ping runs in the timer's goroutine, which ends with it.
func (k *keepalive) ping() {
	k.mu.Lock()
	if k.t == nil {
		k.mu.Unlock()
		return
	}
	k.pinging.Add(1) // under mu, before stop: wait sees it
	k.mu.Unlock()
	defer k.pinging.Done()
	if _, err := k.s.ys.Ping(); err != nil {
		select {
		case <-k.s.ys.CloseChan(): // the session ended meanwhile
		default:
			if k.logger != nil {
				k.logger.Warn("ferry: keepalive failed: the peer did not answer a ping in time", "remote", k.s.ys.RemoteAddr(), "err", err)
			}
			k.s.g.ended(ErrPingTimeout)
			k.s.end()
			_ = k.s.ys.Close()
		}
		return
	}
	k.s.shrink()
	k.mu.Lock()
	if k.t != nil {
		k.t.Reset(k.every)
	}
	k.mu.Unlock()
}

// stop cancels the next ping; a ping under way ends soon after the
// session (wait).
func (k *keepalive) stop() {
	if k == nil {
		return
	}
	k.mu.Lock()
	k.stopped = true
	if k.t != nil {
		k.t.Stop()
		k.t = nil // the timer no longer holds the session
	}
	k.mu.Unlock()
}

// wait waits for a ping under way; call it after stop, once the session
// has ended.
func (k *keepalive) wait() {
	if k != nil {
		k.pinging.Wait()
	}
}
