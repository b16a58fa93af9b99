// Package stream carries one streaming call on its own multiplexed stream,
// so a slow stream never blocks another and its memory is bounded by the
// stream's flow-control window. PROTOCOL.md ("Streaming calls") documents
// the frames; client and server wrap a Conn in their typed APIs.
package stream

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// Conn is one end of a streaming call. Send and Recv may be used from two
// goroutines at once, but neither from more than one.
type Conn struct {
	rwc   net.Conn
	rd    *wire.Reader
	dec   *msgpack.Decoder
	limit int

	wmu        sync.Mutex // one message encoded at a time into out
	out        msgpack.Buffer
	enc        *vmsgpack.Encoder
	sendClosed error // under wmu: why Send refuses (after CloseSend or the final status)

	// Write-behind: encoded messages queue in pend while one write is in
	// flight, so a sender that outpaces the session's send loop has its
	// messages batched into one stream write. pend is bounded: a sender
	// waits while maxPending bytes are queued (and the stream window,
	// beyond it, bounds what the peer holds).
	qmu     sync.Mutex
	qcond   sync.Cond
	pend    []byte
	spare   []byte
	writing bool
	qerr    error
	writers sync.WaitGroup

	// Set when the final status arrives (final last, so that a Close on
	// another goroutine may read it).
	final    atomic.Bool
	finalErr error
	result   []byte
}

// New wraps a stream whose marker byte (if any) was already consumed.
func New(rwc net.Conn, lim wire.Limits) *Conn {
	c := &Conn{rwc: rwc, rd: wire.NewReader(rwc, lim), dec: msgpack.NewDecoder(), limit: lim.MaxMessage}
	c.enc = msgpack.NewEncoder(&c.out)
	c.qcond.L = &c.qmu
	return c
}

// maxPending bounds the bytes queued behind the write in flight.
const maxPending = 64 << 10

// closeFlush bounds how long Close waits for queued messages to be written.
const closeFlush = time.Second

// Raw returns the underlying stream.
func (c *Conn) Raw() net.Conn { return c.rwc }

// write queues the message in out (wmu held) behind the write in flight,
// starting a writer if none runs.
func (c *Conn) write(_ time.Duration) error {
	defer func() {
		if cap(c.out.B) > 64<<10 {
			c.out.B = nil
		} else {
			c.out.B = c.out.B[:0]
		}
	}()
	if n := len(c.out.B); n > c.limit {
		return ferry.Errorf(ferry.CodeResourceExhausted, "message of %d bytes exceeds the %d-byte limit", n, c.limit)
	}
	c.qmu.Lock()
	defer c.qmu.Unlock()
	for c.qerr == nil && len(c.pend) > 0 && len(c.pend)+len(c.out.B) > maxPending {
		c.qcond.Wait()
	}
	if c.qerr != nil {
		return c.qerr
	}
	c.pend = append(c.pend, c.out.B...)
	if !c.writing {
		c.writing = true
		c.writers.Add(1)
		go c.flush()
	}
	return nil
}

// flush writes what is queued until nothing is.
func (c *Conn) flush() {
	defer c.writers.Done()
	c.qmu.Lock()
	for len(c.pend) > 0 && c.qerr == nil {
		buf := c.pend
		c.pend = c.spare[:0]
		c.qmu.Unlock()
		_, err := c.rwc.Write(buf)
		c.qmu.Lock()
		if cap(buf) <= 4*maxPending {
			c.spare = buf[:0]
		}
		if err != nil {
			c.qerr = err
			c.pend = nil
		}
		c.qcond.Broadcast()
	}
	c.writing = false
	c.qcond.Broadcast()
	c.qmu.Unlock()
}

// WriteOpen sends the opening request [0, 0, method, [], ext] after the
// marker byte.
func (c *Conn) WriteOpen(method string, ext wire.RequestExt) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append(c.out.B[:0], wire.StreamMarker)
	b = msgpack.AppendArrayHeader(b, 5)
	b = msgpack.AppendString(append(b, wire.TypeRequest, 0), method)
	b = msgpack.AppendArrayHeader(b, 0)
	c.out.B = wire.AppendRequestExt(b, ext)
	return c.write(0)
}

// ReadOpen reads the opening request.
func (c *Conn) ReadOpen() (method string, ext wire.RequestExt, err error) {
	b, err := c.rd.Next()
	if err != nil {
		return "", ext, err
	}
	m, err := wire.Parse(b)
	if err != nil {
		return "", ext, err
	}
	if m.Type != wire.TypeRequest {
		return "", ext, fmt.Errorf("%w: a stream must open with a request", wire.ErrMalformed)
	}
	if m.Ext != nil {
		if ext, err = wire.ParseRequestExt(m.Ext); err != nil {
			return "", ext, err
		}
	}
	return string(m.Method), ext, nil
}

// Send writes one data frame carrying v. After CloseSend or SendStatus it
// sends nothing and returns a CodeFailedPrecondition error.
func (c *Conn) Send(v any, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sendClosed != nil {
		return c.sendClosed
	}
	c.out.B = append(c.out.B[:0], 0x92, wire.TypeStreamData)
	if err := encode(c.enc, v); err != nil {
		c.out.B = c.out.B[:0]
		return ferry.Errorf(ferry.CodeInternal, "cannot encode the message: %v", err)
	}
	return c.write(timeout)
}

// CloseSend writes the end-of-data frame, once: a second CloseSend does
// nothing and returns nil.
func (c *Conn) CloseSend() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sendClosed != nil {
		return nil
	}
	c.sendClosed = ferry.NewError(ferry.CodeFailedPrecondition, "Send after CloseSend: the message was not sent")
	c.out.B = append(c.out.B[:0], 0x91, wire.TypeStreamEnd)
	return c.write(0)
}

// SendStatus writes the final frame: [1, 0, nil, result] on success,
// [1, 0, error, nil, ext] on failure (internal/status encodes it as for a
// unary call). Send fails after it.
func (c *Conn) SendStatus(result any, herr error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.sendClosed = ferry.NewError(ferry.CodeFailedPrecondition, "Send after the call finished: the message was not sent")
	if herr == nil {
		b := msgpack.AppendArrayHeader(c.out.B[:0], 4)
		c.out.B = msgpack.AppendNil(append(b, wire.TypeResponse, 0))
		if herr = encode(c.enc, result); herr == nil {
			return c.write(0)
		}
		herr = ferry.Errorf(ferry.CodeInternal, "cannot encode the result: %v", herr)
	}
	c.out.B = status.AppendError(c.out.B[:0], 0, herr, true)
	return c.write(0)
}

func encode(enc *vmsgpack.Encoder, v any) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while encoding %T: %v", v, p)
		}
	}()
	if b, ok := msgpack.AppendFast(enc.Writer().(*msgpack.Buffer).B, v); ok {
		enc.Writer().(*msgpack.Buffer).B = b
		return nil
	}
	return enc.Encode(v)
}

// ErrEnd is returned by Recv when the peer called CloseSend.
var ErrEnd = errors.New("ferry: end of stream")

// Recv reads the next frame: a data frame is decoded into v; the peer's
// CloseSend is ErrEnd; the final status is io.EOF on success (the result
// is kept for Result) or the handler's error, a *ferry.Error with its
// code, details and not-executed flag. A stream that ends without a final
// status is io.ErrUnexpectedEOF; other failures are returned as the
// transport reported them, for status.Received to map.
func (c *Conn) Recv(v any) error {
	if c.final.Load() {
		if c.finalErr != nil {
			return c.finalErr
		}
		return io.EOF
	}
	b, err := c.rd.Next()
	if err == io.EOF {
		return io.ErrUnexpectedEOF // closed without a final status
	}
	if err != nil {
		return err
	}
	if len(b) >= 2 && b[1] == wire.TypeStreamData && (b[0] == 0x92) {
		if v == nil {
			return nil
		}
		if err := c.dec.Decode(b[2:], v); err != nil {
			return ferry.Errorf(ferry.CodeInvalidArgument, "cannot decode the message into %T: %v", v, err)
		}
		return nil
	}
	if len(b) == 2 && b[0] == 0x91 && b[1] == wire.TypeStreamEnd {
		return ErrEnd
	}
	m, err := wire.Parse(b)
	if err != nil || m.Type != wire.TypeResponse {
		return fmt.Errorf("%w: unexpected frame on a stream", wire.ErrMalformed)
	}
	if m.Error != nil {
		c.finalErr = status.Decode(m.Error, m.Ext, c.dec)
		c.final.Store(true)
		return c.finalErr
	}
	c.result = append([]byte(nil), m.Result...)
	c.final.Store(true)
	return io.EOF
}

// Final reports whether the final status has arrived.
func (c *Conn) Final() bool { return c.final.Load() }

// Result decodes the handler's returned value; valid after Recv returned
// io.EOF.
func (c *Conn) Result(v any) error {
	if !c.final.Load() {
		return errors.New("ferry: the stream has not finished")
	}
	if c.finalErr != nil {
		return c.finalErr
	}
	if v == nil || len(c.result) == 0 {
		return nil
	}
	if err := c.dec.Decode(c.result, v); err != nil {
		return ferry.Errorf(ferry.CodeInternal, "cannot decode the result into %T: %v", v, err)
	}
	return nil
}

// Close writes what is queued (waiting at most closeFlush; not at all once
// the final status has arrived, since nobody reads after it), then closes
// the stream and waits for the writer.
func (c *Conn) Close() error {
	c.rd.Close() // gives back the reader's budget
	if c.final.Load() {
		c.qmu.Lock()
		if c.qerr == nil {
			c.qerr = net.ErrClosed
		}
		c.qcond.Broadcast()
		c.qmu.Unlock()
		_ = c.rwc.SetWriteDeadline(time.Now())
	}
	timer := time.AfterFunc(closeFlush, func() {
		c.qmu.Lock()
		if c.qerr == nil {
			c.qerr = net.ErrClosed
		}
		c.qcond.Broadcast()
		c.qmu.Unlock()
		_ = c.rwc.SetWriteDeadline(time.Now()) // unblock a write stuck on a full window
	})
	c.qmu.Lock()
	for c.writing && c.qerr == nil {
		c.qcond.Wait()
	}
	if c.qerr == nil {
		c.qerr = net.ErrClosed
	}
	c.qmu.Unlock()
	timer.Stop()
	err := c.rwc.Close()
	c.writers.Wait()
	return err
}

// Bound charges acct for the reader's buffer and breaks the stream when
// the peer holds part of a message for stall without sending more of it
// (zero: never). Call it before the first read.
func (c *Conn) Bound(acct wire.Account, stall time.Duration) {
	if acct != nil {
		c.rd.SetAccount(acct)
	}
	if stall > 0 {
		c.rd.SetStall(stall, func() { c.rwc.Close() })
	}
}
