package rawecho

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/ferryrpc/ferry/benchmarks/bench"
)

// client multiplexes calls over one stream by id: callers queue frames on
// the batching writer; one reader goroutine reads replies straight into
// the waiting caller's buffer.
type client struct {
	st      io.ReadWriteCloser
	closers []io.Closer // closed after st, in order
	w       *batchWriter
	done    chan struct{}

	mu      sync.Mutex
	next    uint32
	pending map[uint32]*slot
	err     error
}

// slot is one caller's reusable reply state.
type slot struct {
	reply []byte
	res   chan error
}

func newClient(st io.ReadWriteCloser, closers ...io.Closer) *client {
	c := &client{st: st, closers: closers, w: newBatchWriter(st), done: make(chan struct{}), pending: map[uint32]*slot{}}
	go c.read()
	return c
}

func (c *client) read() {
	defer close(c.done)
	r := bufio.NewReaderSize(c.st, readBufSize)
	var hdr [headerSize]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			c.failAll(err)
			return
		}
		id, n := binary.BigEndian.Uint32(hdr[0:4]), binary.BigEndian.Uint32(hdr[4:8])
		c.mu.Lock()
		s := c.pending[id]
		delete(c.pending, id)
		c.mu.Unlock()
		if s == nil || n > maxFrame {
			c.failAll(fmt.Errorf("rawecho: reply for unknown call %d (%d bytes)", id, n))
			return
		}
		if cap(s.reply) < int(n) {
			s.reply = make([]byte, n)
		}
		s.reply = s.reply[:n]
		if _, err := io.ReadFull(r, s.reply); err != nil {
			s.res <- err
			c.failAll(err)
			return
		}
		s.res <- nil
	}
}

func (c *client) failAll(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
	for id, s := range c.pending {
		delete(c.pending, id)
		s.res <- err
	}
}

func (c *client) call(ctx context.Context, s *slot, payload []byte) error {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return c.err
	}
	c.next++
	id := c.next
	c.pending[id] = s
	c.mu.Unlock()
	if err := c.w.send(id, payload); err != nil {
		return err
	}
	select {
	case err := <-s.res:
		return err
	case <-ctx.Done():
		// The reply may still arrive; the slot is no longer usable.
		return ctx.Err()
	}
}

// NewCaller returns a caller that echoes the raw payload of w.
func (c *client) NewCaller(w bench.Workload) (bench.Caller, error) {
	return &caller{c: c, w: w, payload: bench.RawPayload(w), s: &slot{res: make(chan error, 1)}}, nil
}

func (c *client) Close() error {
	c.w.close()
	c.st.Close()
	for _, cl := range c.closers {
		cl.Close()
	}
	<-c.done
	return nil
}

type caller struct {
	c       *client
	w       bench.Workload
	payload []byte
	s       *slot
}

func (k *caller) Call(ctx context.Context) error { return k.c.call(ctx, k.s, k.payload) }

func (k *caller) Check() error { return bench.CheckRaw(k.w, k.s.reply) }
