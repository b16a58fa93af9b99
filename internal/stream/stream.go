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
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/encode"
	"github.com/ferryrpc/ferry/internal/flush"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/nest"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
)

// The array headers that start a data frame and an end frame, as
// msgpack.AppendArrayHeader writes them.
var (
	dataHeader = msgpack.AppendArrayHeader(nil, 2)[0]
	endHeader  = msgpack.AppendArrayHeader(nil, 1)[0]
)

// Call is one end of a streaming call. Send and Recv may be used from two
// goroutines at once, but neither from more than one.
type Call struct {
	rwc   net.Conn
	rd    *wire.Reader
	dec   *msgpack.Decoder
	limit wire.Limits // what is sent is bounded by limit.SendMax()

	// Write-behind: messages are framed straight into the pending bytes
	// of w, whose flusher writes them while the sender goes on, so a
	// sender that outpaces the session's send loop has its messages
	// batched into one stream write. A sender waits while maxPending
	// bytes are queued (and the stream window, beyond it, bounds what the
	// peer holds).
	wmu        sync.Mutex // one message framed at a time
	w          flush.Writer
	wacct      wire.Account    // charged for the bytes queued in w until they leave (BoundWrites); nil: none
	dacct      wire.Account    // charged while Recv decodes a message, for what it decodes into (BoundWrites); nil: none
	enc        *encode.Encoder // under wmu
	sendClosed error           // under wmu: why Send refuses (after CloseSend or the final status)
	sentOne    bool            // under wmu: Send has framed a message

	// Set when the final status arrives (final last, so that a Close on
	// another goroutine may read it).
	final    atomic.Bool
	finalErr error
	result   []byte

	stalled atomic.Bool // the peer held part of a message too long (Bound): the stream is closed
	serving bool        // the serving end (ReadOpen, Serving.Run): a final status from the caller is a protocol error
}

// New wraps a stream whose marker byte (if any) was already consumed.
func New(rwc net.Conn, lim wire.Limits) *Call {
	c := &Call{rwc: rwc, rd: wire.NewReader(rwc, lim), dec: msgpack.NewDecoder(), limit: lim, enc: encode.New()}
	c.w.Init(rwc, c.writerConfig(0))
	return c
}

func (c *Call) writerConfig(timeout time.Duration) flush.Config {
	cfg := flush.Config{HighWater: maxPending, KeepSpare: 4 * maxPending, Timeout: timeout, Final: closeFlush, Discard: wire.PutBuffer}
	if c.wacct != nil {
		cfg.Flushed = c.wacct.Release
	}
	return cfg
}

// maxPending bounds the bytes queued behind the write in flight.
const maxPending = 64 << 10

// closeFlush bounds how long Close waits for queued messages to be written.
const closeFlush = time.Second

// Cut makes the stream's reads and writes fail at once, those in flight
// included, for a call whose context ended. The writer keeps the cut: its
// own write deadline is not set over it (a deadline set on Raw would be).
// ResumeWrites lifts it for writes.
func (c *Call) Cut() {
	_ = c.rwc.SetReadDeadline(time.Now())
	c.w.Expire()
}

// ResumeWrites lets writes go on after Cut, with the writer's own
// deadline: for the final status of a call whose deadline passed.
func (c *Call) ResumeWrites() { c.w.Renew() }

// Raw returns the underlying stream.
func (c *Call) Raw() net.Conn { return c.rwc }

// write queues one message behind the write in flight (wmu held): frame
// appends it to the pending bytes; a message over the size limit is
// dropped with an error.
func (c *Call) write(frame func(b []byte) ([]byte, error)) error {
	if c.stalled.Load() {
		return wire.ErrStalled // the stream is being closed: nothing more goes out
	}
	b, err := c.w.Begin()
	if err != nil {
		return err
	}
	mark := len(b)
	b, err = frame(b)
	if max, peers := c.limit.SendMax(); err == nil && len(b)-mark > max {
		err = ferry.WrapError(ferry.CodeResourceExhausted, wire.ErrTooLarge,
			fmt.Sprintf("message of %d bytes exceeds %s limit", len(b)-mark, limitName(max, peers)))
	}
	if err == nil && c.wacct != nil && !c.wacct.Charge(len(b)-mark) {
		err = ferry.WrapError(ferry.CodeResourceExhausted, errWriteBudget, "messages the peer does not read")
	}
	if err != nil {
		b = b[:mark]
	}
	c.w.End(b)
	return err
}

// WriteOpen sends the opening request [0, 0, method, [], ext] after the
// marker byte.
func (c *Call) WriteOpen(method string, ext wire.RequestExt) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.write(func(b []byte) ([]byte, error) {
		b = msgpack.AppendArrayHeader(append(b, wire.StreamMarker), 5)
		b = msgpack.AppendString(append(b, wire.TypeRequest, 0), method)
		b = msgpack.AppendArrayHeader(b, 0)
		return wire.AppendRequestExt(b, ext), nil
	})
}

// ErrMalformedExt is ReadOpen's error for an opening request whose
// extension map is malformed. The method comes with it: the stream can
// still be answered (OpenRefusal).
var ErrMalformedExt = errors.New("malformed extensions")

// OpenRefusal returns the final status that refuses a stream whose opening
// ReadOpen failed with err, for method: its metadata past the bounds
// (CodeInvalidArgument, not executed) or a malformed extension map
// (CodeInvalidArgument, PROTOCOL.md 3). It returns nil when the opening
// cannot be answered: it was not a request.
func OpenRefusal(method string, err error) *ferry.Error {
	switch {
	case errors.Is(err, wire.ErrMetadataTooLarge):
		return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeInvalidArgument, "%s: %v", wire.EchoName(method), err))
	case errors.Is(err, ErrMalformedExt):
		return ferry.NewError(ferry.CodeInvalidArgument, wire.ExtReason(err))
	}
	return nil
}

// ReadOpen reads the opening request. It returns the method with
// wire.ErrMetadataTooLarge and ErrMalformedExt.
func (c *Call) ReadOpen() (method string, ext wire.RequestExt, err error) {
	c.serving = true // the end that reads the opening request serves the call
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
			if !errors.Is(err, wire.ErrMetadataTooLarge) {
				err = fmt.Errorf("%w: %w", ErrMalformedExt, err)
			}
			return string(m.Method), ext, err // the stream can still be answered
		}
	}
	return string(m.Method), ext, nil
}

// Send writes one data frame carrying v. After CloseSend or SendStatus it
// sends nothing and returns a CodeFailedPrecondition error.
func (c *Call) Send(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sendClosed != nil {
		return c.sendClosed
	}
	frame := func(b []byte) ([]byte, error) {
		b = append(msgpack.AppendArrayHeader(b, 2), wire.TypeStreamData)
		mark := len(b)
		b, err := c.enc.Append(b, v)
		if err != nil {
			return b, ferry.Errorf(ferry.CodeInternal, "cannot encode the message: %v", err)
		}
		max, peers := c.limit.SendDepth()
		if err := c.badValue(v, b[mark:], max); errors.Is(err, wire.ErrTooDeep) {
			return b, ferry.WrapError(ferry.CodeResourceExhausted, wire.ErrTooDeep,
				"the message nests deeper than "+depthName(max, peers))
		} else if err != nil {
			return b, ferry.Errorf(ferry.CodeInternal, "the message is not one msgpack value (%v): a codec.Raw or a custom encoder wrote malformed bytes", err)
		}
		return b, nil
	}
	if !c.sentOne {
		// The first message is framed apart, then appended: framed
		// under the writer's lock, a message that takes long to encode
		// held back the opening request queued before it, which the
		// server needs within its SniffTimeout (1 MiB of small maps took
		// 1.7 s under -race, and past 10 s on a loaded machine: the
		// server closed the stream before its opening came).
		c.sentOne = true
		msg, err := frame(nil)
		if err != nil {
			return err
		}
		return c.write(func(b []byte) ([]byte, error) { return append(b, msg...), nil })
	}
	return c.write(frame)
}

// CloseSend writes the end-of-data frame, once: a second CloseSend does
// nothing and returns nil.
func (c *Call) CloseSend() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.sendClosed != nil {
		return nil
	}
	c.sendClosed = ferry.NewError(ferry.CodeFailedPrecondition, "Send after CloseSend: the message was not sent")
	return c.write(func(b []byte) ([]byte, error) {
		return append(msgpack.AppendArrayHeader(b, 1), wire.TypeStreamEnd), nil
	})
}

// SendStatus writes the final frame: [1, 0, nil, result] on success,
// [1, 0, error, nil, ext] on failure (internal/status encodes it as for a
// unary call). A result past the message limit is replaced by a
// CodeResourceExhausted error, as a unary call's reply is. Send fails
// after it.
func (c *Call) SendStatus(result any, herr error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.sendClosed = ferry.NewError(ferry.CodeFailedPrecondition, "Send after the call finished: the message was not sent")
	return c.write(func(b []byte) ([]byte, error) {
		mark := len(b)
		if herr == nil {
			b = msgpack.AppendNil(append(msgpack.AppendArrayHeader(b, 4), wire.TypeResponse, 0))
			var err error
			start := len(b)
			b, err = c.enc.Append(b, result)
			max, peers := c.limit.SendMax()
			depth, dpeers := c.limit.SendDepth()
			switch size := len(b) - mark; {
			case err != nil:
				herr = ferry.Errorf(ferry.CodeInternal, "cannot encode the result: %v", err)
			case size > max:
				// Replaced, as a unary reply past the limit is (PROTOCOL.md 5):
				// dropped, it would leave the caller without a status.
				herr = ferry.Errorf(ferry.CodeResourceExhausted, "the result (%d bytes) is larger than %s message limit", size, limitName(max, peers))
			default:
				bad := c.badValue(result, b[start:], depth)
				if bad == nil {
					return b, nil
				}
				herr = ferry.Errorf(ferry.CodeInternal, "the result is not one msgpack value (%v): a codec.Raw or a custom encoder wrote malformed bytes", bad)
				if errors.Is(bad, wire.ErrTooDeep) {
					herr = ferry.Errorf(ferry.CodeResourceExhausted, "the result nests deeper than %s", depthName(depth, dpeers))
				}
			}
			b = b[:mark]
		}
		max, _ := c.limit.SendMax()
		return status.AppendErrorWithin(b, 0, herr, true, max), nil
	})
}

// badValue reports why v, encoded as b, the second level of its frame
// (the frame's own array being the first), may not be sent: it nests
// deeper than depth levels (an error wrapping wire.ErrTooDeep), or a
// codec.Raw or a custom encoder made it no whole msgpack value; the
// receiver would end the call on either (PROTOCOL.md 6). Only a value
// whose type does not bound its nesting is scanned.
func (c *Call) badValue(v any, b []byte, depth int) error {
	if !nest.MayNest(v, depth-1) {
		return nil
	}
	return nest.BadValue(b, 2, depth)
}

// depthName names a nesting limit in an error: this side's, or the
// peer's, which it said in its hello (wire.Limits.SendDepth).
func depthName(depth int, peers bool) string {
	if peers {
		return fmt.Sprintf("the %d levels the peer's messages may have", depth)
	}
	return fmt.Sprintf("the %d levels a message may have", depth)
}

// limitName names the limit a message passed (wire.Limits.SendMax): this
// side's own ("the 4194304-byte"), or the peer's, which it said in its
// hello ("the peer's 1024-byte").
func limitName(max int, peers bool) string {
	if peers {
		return fmt.Sprintf("the peer's %d-byte", max)
	}
	return fmt.Sprintf("the %d-byte", max)
}

// ErrEnd is returned by Recv when the peer called CloseSend.
var ErrEnd = errors.New("ferry: end of stream")

// Recv reads the next frame: a data frame is decoded into v (one that does
// not fit v is dropped with CodeInvalidArgument on the serving end, where
// it is an argument, and CodeInternal on the caller's, where it is a reply);
// the peer's CloseSend is ErrEnd; the final status is io.EOF on success (the result
// is kept for Result) or the handler's error, a *ferry.Error with its
// code, details and not-executed flag. A stream that ends without a final
// status is io.ErrUnexpectedEOF; other failures are returned as the
// transport reported them, for status.Received to map.
func (c *Call) Recv(v any) error {
	if c.final.Load() {
		if c.finalErr != nil {
			return c.finalErr
		}
		return io.EOF
	}
	b, err := c.rd.Next()
	if err != nil && c.stalled.Load() {
		return wire.ErrStalled
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF // closed without a final status
	}
	if err != nil {
		return err
	}
	kind, payload := frameOf(b)
	if kind == wire.TypeStreamData {
		if v == nil {
			return nil
		}
		if c.dacct != nil {
			// What the message decodes into is charged while it is
			// decoded: maps and boxed values make far more of a byte
			// than the reader's buffer held (registry.DecodeCost).
			cost := registry.DecodeCostOf(reflect.TypeOf(v), len(payload), c.rd.Items(), c.rd.MapItems())
			if !c.dacct.Charge(cost) {
				return ferry.WrapError(ferry.CodeResourceExhausted, ferry.ErrDropped,
					fmt.Sprintf("a message of %d bytes would decode into %T past the connection's memory budget", len(payload), v))
			}
			defer c.dacct.Release(cost)
		}
		if err := c.dec.Decode(payload, v); err != nil {
			// To the handler it is an argument refused; to the caller, a
			// reply that does not fit, as for a unary call (PROTOCOL.md 2.1).
			code := ferry.CodeInternal
			if c.serving {
				code = ferry.CodeInvalidArgument
			}
			return ferry.WrapError(code, ferry.ErrDropped, fmt.Sprintf("cannot decode the message into %T: %s", v, msgpack.Reason(err)))
		}
		return nil
	}
	if kind == wire.TypeStreamEnd {
		return ErrEnd
	}
	m, err := wire.Parse(b)
	if err != nil || m.Type != wire.TypeResponse || c.serving {
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

// frameOf returns the type of a message frame ([3, payload], with its
// payload) or of an end frame ([4]), or 0 for any other frame. The array
// header and the type may come in any width (PROTOCOL.md 6: the frames
// are msgpack arrays, and an integer's width is the encoder's choice);
// the minimal encoding, which Ferry writes, is checked first.
func frameOf(b []byte) (kind int, payload []byte) {
	switch {
	case len(b) >= 2 && b[0] == dataHeader && b[1] == wire.TypeStreamData:
		return wire.TypeStreamData, b[2:]
	case len(b) == 2 && b[0] == endHeader && b[1] == wire.TypeStreamEnd:
		return wire.TypeStreamEnd, nil
	}
	n, off, ok := msgpack.ArrayLen(b)
	if !ok || n < 1 || n > 2 {
		return 0, nil
	}
	typ, tl, err := msgpack.ReadUint(b[off:])
	switch {
	case err != nil:
		return 0, nil
	case n == 2 && typ == wire.TypeStreamData:
		return wire.TypeStreamData, b[off+tl:] // b is one whole value: the payload is the rest
	case n == 1 && typ == wire.TypeStreamEnd && off+tl == len(b):
		return wire.TypeStreamEnd, nil
	}
	return 0, nil
}

// Final reports whether the final status has arrived.
func (c *Call) Final() bool { return c.final.Load() }

// Result decodes the handler's returned value; valid after Recv returned
// io.EOF.
func (c *Call) Result(v any) error {
	if !c.final.Load() {
		return ferry.NewError(ferry.CodeFailedPrecondition, "Result before the stream finished: read until Recv returns io.EOF")
	}
	if c.finalErr != nil {
		return c.finalErr
	}
	if v == nil || len(c.result) == 0 {
		return nil
	}
	if err := c.dec.Decode(c.result, v); err != nil {
		return ferry.Errorf(ferry.CodeInternal, "cannot decode the result into %T: %s", v, msgpack.Reason(err))
	}
	return nil
}

// Close writes what is queued (waiting at most closeFlush; not at all once
// the final status has arrived, since nobody reads after it), then closes
// the stream and waits for the writer.
func (c *Call) Close() error {
	c.rd.Close() // gives back the reader's budget
	if c.final.Load() {
		c.w.Abort()
	}
	return c.w.Close()
}

// errWriteBudget is why a message is not queued when the memory budget
// cannot hold it.
var errWriteBudget = errors.New("the connection's memory budget is spent")

// BoundWrites charges acct for the messages queued to be written until
// they leave (a message it cannot hold is not sent: Send returns a
// CodeResourceExhausted error), and fails every write that waits for the
// peer longer than timeout, such as one the peer never grants window for
// (zero: no bound). Recv charges acct too, while it decodes a message, for
// what the message decodes into (registry.DecodeCostOf): one that would
// not fit is refused with CodeResourceExhausted. Call it before the first
// write.
func (c *Call) BoundWrites(acct wire.Account, timeout time.Duration) {
	c.wacct, c.dacct = acct, acct
	c.w.Init(c.rwc, c.writerConfig(timeout))
}

// SetReadLimits bounds the messages read from now on; Call it between
// reads (a server reads an unauthenticated connection's openings with
// wire.UnauthMaxMessage).
func (c *Call) SetReadLimits(lim wire.Limits) { c.rd.SetLimits(lim) }

// Bound charges acct for the reader's buffer and breaks the stream when
// the peer holds part of a message for stall without sending more of it
// (zero: never). Call it before the first read.
func (c *Call) Bound(acct wire.Account, stall time.Duration) {
	if acct != nil {
		c.rd.SetAccount(acct)
	}
	if stall > 0 {
		c.rd.SetStall(stall, func() {
			// Close alone half-closes a session stream: a Read waiting
			// for the peer would go on waiting, and read what it sends.
			// Marked first, so that nothing more is queued once the
			// deadline wakes the reader (no final status after a stall);
			// the reader is woken before Close, which may wait for the
			// session to write the close.
			c.stalled.Store(true)
			_ = c.rwc.SetReadDeadline(time.Now())
			c.rwc.Close()
		})
	}
}

// MaxRefusing bounds the streams past MaxStreams that one connection
// answers at once with RefusePastMax; beyond it they are closed unanswered, so
// that a peer that does not read cannot make this side hold a goroutine
// for each stream it opens.
const MaxRefusing = 16

// errPastMaxStreams refuses a stream opened past MaxStreams.
var errPastMaxStreams = ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many streams open on this connection (MaxStreams)"))

// RefusePastMax answers a stream opened past MaxStreams, unread, with a
// final status refusing it (resource_exhausted, not executed), and closes
// it, waiting at most timeout for the write: a caller then fails its call
// as not executed, where a stream closed unanswered leaves its outcome
// unknown (a call stream, which no Ferry peer opens past its first, would
// read the status as a refusal of its msgid 0).
//
// The status is written in the calling goroutine, without a Call and its
// writer's goroutine: a peer opening streams past MaxStreams makes this
// side hold one goroutine per refusal (at most MaxRefusing), not two.
func RefusePastMax(st net.Conn, lim wire.Limits, timeout time.Duration) {
	max, _ := lim.SendMax()
	b := status.AppendErrorWithin(nil, 0, errPastMaxStreams, true, max)
	if timeout > 0 {
		_ = st.SetWriteDeadline(time.Now().Add(timeout))
	}
	_, _ = st.Write(b)
	st.Close()
}
