package flush

import (
	"io"
	"runtime"
	"time"
)

// run is the flusher: it writes one batch at a time while anything is
// pending, then waits for more until Idle passes or Shutdown begins.
func (w *Writer) run() {
	defer w.flushers.Done()
	var idle *time.Timer
	if w.cfg.Idle > 0 {
		idle = time.NewTimer(w.cfg.Idle)
		defer idle.Stop()
	}
	for {
		if w.cfg.Yield {
			runtime.Gosched() // let more messages join the batch
		}
		w.mu.Lock()
		w.flushOne()
		switch {
		case w.writing:
			// A caller writes itself (Write's direct path, TryWrite);
			// it kicks when done.
			w.awaiting = true
			w.mu.Unlock()
			<-w.wake
			continue
		case w.closing && (w.pending() == 0 || w.err != nil):
			w.running = false
			w.finish() // unlocks
			return
		case w.pending() > 0 && w.err == nil:
			w.mu.Unlock()
			continue
		case idle == nil:
			w.running = false
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		idle.Reset(w.cfg.Idle)
		select {
		case <-w.wake:
		case <-idle.C:
			w.mu.Lock()
			if w.pending() == 0 && !w.closing && !w.writing {
				w.running = false
				// An idle writer keeps no buffer: the next batch
				// allocates one.
				w.buf, w.spare, w.spareLnk, w.vec = nil, nil, nil, nil
				w.mu.Unlock()
				return
			}
			w.mu.Unlock()
		}
	}
}

// flushOne writes the pending bytes as one batch, unless another write is
// in flight; after a failure it drops them. mu is held.
func (w *Writer) flushOne() {
	if w.pending() == 0 || w.writing {
		return
	}
	no := w.batch
	batch, links, n := w.take()
	w.cond.Broadcast() // nothing is pending now: callers waiting for room go on
	if w.err == nil {
		w.inflight, w.begun = no, no
		w.write(batch, links)
		w.inflight = 0
	}
	w.forget(links)
	switch {
	case cap(batch) <= w.cfg.KeepSpare && w.spare == nil:
		w.spare = batch[:0]
	case cap(batch) > w.cfg.KeepSpare && w.cfg.Discard != nil:
		w.cfg.Discard(batch)
	}
	if w.cfg.Flushed != nil {
		w.mu.Unlock()
		w.cfg.Flushed(n)
		w.mu.Lock()
	}
	if w.err != nil && w.pending() > 0 {
		w.flushOne() // drops what came in meanwhile
	}
	w.cond.Broadcast()
}

// Shutdown begins closing without waiting: what is pending is flushed
// (bounded by Config.Final), later calls fail with Config.Closed, and the
// destination is closed. Done is closed when that is over. A write in
// flight gets the final deadline too.
func (w *Writer) Shutdown() {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return
	}
	w.closing = true
	if w.cfg.Final > 0 {
		w.final = time.Now().Add(w.cfg.Final).UnixNano()
		if w.writing {
			w.setDeadline()
		}
	}
	if w.running || w.writing || (w.pending() > 0 && w.err == nil) {
		w.kick() // the flusher writes what is pending, then finishes
		w.mu.Unlock()
		return
	}
	w.finish()
}

// finish drops what is left, latches Closed, closes the destination and
// marks the writer done. mu is held; finish releases it. Nothing is being
// written.
func (w *Writer) finish() {
	w.fail(w.cfg.Closed)
	n := w.drop()
	w.buf = nil
	w.mu.Unlock()
	if n > 0 && w.cfg.Flushed != nil {
		w.cfg.Flushed(n)
	}
	var err error
	if c, ok := w.dst.(io.Closer); ok {
		err = c.Close()
	}
	w.mu.Lock()
	w.closeErr = err
	w.mu.Unlock()
	close(w.done)
}

// Abort stops writing at once: what is pending is dropped, a write in
// flight is cut short (when the destination has SetWriteDeadline), and
// later calls fail with Config.Closed. Close still closes the destination;
// its final bound is not set over the cut (as after Expire).
func (w *Writer) Abort() {
	w.mu.Lock()
	w.fail(w.cfg.Closed)
	n := w.drop()
	w.buf = nil
	if d, ok := w.dst.(deadliner); ok && w.writing {
		w.expired = true
		w.armed = time.Unix(1, 0)
		_ = d.SetWriteDeadline(w.armed)
	}
	w.mu.Unlock()
	if n > 0 && w.cfg.Flushed != nil {
		w.cfg.Flushed(n)
	}
}

// drop drops the pending bytes, if any, and returns how many there were;
// mu is held.
func (w *Writer) drop() int {
	if w.pending() == 0 {
		return 0
	}
	_, links, n := w.take()
	w.forget(links)
	w.cond.Broadcast() // for Wait
	return n
}

// Done is closed once Shutdown or Close has flushed, closed the
// destination and the flusher has exited.
func (w *Writer) Done() <-chan struct{} { return w.done }

// Close is Shutdown, then waits until it is done. It returns what closing
// the destination returned.
func (w *Writer) Close() error {
	w.Shutdown()
	<-w.done
	w.flushers.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.closeErr
}
