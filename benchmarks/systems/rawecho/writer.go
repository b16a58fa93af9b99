package rawecho

import (
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"sync"
)

// headerSize is the frame header: call id and payload length, both
// uint32 big-endian.
const headerSize = 8

// maxFrame bounds a payload so that a corrupt header cannot make a reader
// allocate without limit.
const maxFrame = 64 << 20

var errClosed = errors.New("rawecho: connection closed")

// batchWriter is the single writer of a connection: senders append frames
// to a shared buffer and its goroutine writes everything queued in one
// write. It yields once before each write so that other senders can join
// the batch.
type batchWriter struct {
	w    io.Writer
	wake chan struct{}
	quit chan struct{}
	done chan struct{}

	mu  sync.Mutex
	buf []byte
	err error
}

func newBatchWriter(w io.Writer) *batchWriter {
	b := &batchWriter{w: w, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go b.loop()
	return b
}

// send queues one frame.
func (b *batchWriter) send(id uint32, payload []byte) error {
	b.mu.Lock()
	if b.err != nil {
		b.mu.Unlock()
		return b.err
	}
	b.buf = binary.BigEndian.AppendUint32(b.buf, id)
	b.buf = binary.BigEndian.AppendUint32(b.buf, uint32(len(payload)))
	b.buf = append(b.buf, payload...)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

func (b *batchWriter) loop() {
	defer close(b.done)
	var spare []byte
	for {
		select {
		case <-b.wake:
		case <-b.quit:
			b.fail(errClosed)
			return
		}
		runtime.Gosched()
		b.mu.Lock()
		out := b.buf
		b.buf = spare[:0]
		b.mu.Unlock()
		spare = out // the two buffers swap roles every round
		if len(out) == 0 {
			continue
		}
		if _, err := b.w.Write(out); err != nil {
			b.fail(err)
			return
		}
	}
}

func (b *batchWriter) fail(err error) {
	b.mu.Lock()
	if b.err == nil {
		b.err = err
	}
	b.mu.Unlock()
}

// close stops the writer goroutine and waits for it.
func (b *batchWriter) close() {
	select {
	case <-b.quit:
	default:
		close(b.quit)
	}
	<-b.done
}

// readFrame reads one frame into buf (grown as needed) and returns the id
// and the payload.
func readFrame(r io.Reader, hdr *[headerSize]byte, buf []byte) (uint32, []byte, error) {
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, buf, err
	}
	id := binary.BigEndian.Uint32(hdr[0:4])
	n := binary.BigEndian.Uint32(hdr[4:8])
	if n > maxFrame {
		return 0, buf, errors.New("rawecho: frame too large")
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(r, buf)
	return id, buf, err
}

// readBufSize is the read buffer of each end: large enough to take a
// batch of small frames in a few reads, small enough not to dominate the
// memory of an idle connection.
const readBufSize = 16 << 10
