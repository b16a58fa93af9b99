// Package status is the one place where a call's outcome becomes bytes on
// the wire and back, and where local failures (a context that ended, a
// transport that broke, a limit that was hit) become a *ferry.Error. Unary
// calls (internal/engine) and streaming calls (internal/stream) both use
// it, so a code, its details and the not-executed flag mean the same on
// both paths.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/meta"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
)

// AppendError appends the response [1, id, message, nil] carrying err, and
// its ext map {"c": code, "d": details, "n": not executed} when ext is
// true (the peer speaks Ferry's extensions). An error with no message is
// sent with its code's name, so a spec-only peer never reads an empty
// string.
func AppendError(b []byte, id uint32, err error, ext bool) []byte {
	fe := ferry.FromError(err)
	msg := fe.Message
	if msg == "" {
		msg = fe.Code.String()
	}
	msg = capMessage(msg)
	details := fe.Details
	if !detailsFit(details) {
		details = nil // the peer would drop them: see wire.ParseResponseExt
	}
	n := 4
	if ext {
		n = 5
	}
	b = msgpack.AppendArrayHeader(b, n)
	b = msgpack.AppendUint(append(b, wire.TypeResponse), uint64(id))
	b = msgpack.AppendNil(msgpack.AppendString(b, msg))
	if ext {
		b = wire.AppendResponseExt(b, wire.ResponseExt{Code: uint32(fe.Code), Details: details, NotExecuted: ferry.NotExecuted(fe)})
	}
	return b
}

// AppendErrorWithin is AppendError for a receiver that takes messages of
// at most max bytes (wire.Limits.SendMax): a response that would pass it
// goes without its details, and then with its message cut, on a rune
// boundary and marked "…", until it fits; the code and the not-executed
// flag always go. The limit is never below wire.MinMaxMessage, which
// leaves an error message at least 900 bytes.
func AppendErrorWithin(b []byte, id uint32, err error, ext bool, max int) []byte {
	mark := len(b)
	b = AppendError(b, id, err, ext)
	if len(b)-mark <= max {
		return b
	}
	slim := *ferry.FromError(err) // keeps the not-executed flag
	slim.Details = nil
	b = AppendError(b[:mark], id, &slim, ext)
	over := len(b) - mark - max
	if over <= 0 {
		return b
	}
	msg := slim.Message
	if msg == "" {
		msg = slim.Code.String()
	}
	msg = capMessage(msg) // as AppendError sent it
	slim.Message = cutMessage(msg, len(msg)-over-len("…"))
	return AppendError(b[:mark], id, &slim, ext)
}

// cutMessage cuts msg to at most n bytes, on a rune boundary, marking the
// cut with "…"; msg is returned whole when it fits.
func cutMessage(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	cut := max(n, 0)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// Decode turns a response's error field of any shape, and its ext map if
// any, into a *ferry.Error: a string (or bin) is the message, other
// shapes are formatted; without a valid code in ext the code is
// CodeUnknown. The not-executed flag survives.
func Decode(errField, ext []byte, dec *msgpack.Decoder) *ferry.Error {
	fe := &ferry.Error{Code: ferry.CodeUnknown}
	if s, err := msgpack.ReadStringBytes(errField); err == nil {
		fe.Message = string(s)
	} else {
		var v any
		if dec == nil || dec.Decode(errField, &v) != nil {
			fe.Message = "undecodable error value"
		} else if s, ok := v.(string); ok {
			fe.Message = s
		} else if j, err := json.Marshal(v); err == nil {
			fe.Message = string(j) // Neovim's [0, "Vim:E121: ..."] reads as JSON
		} else {
			fe.Message = fmt.Sprint(v)
		}
	}
	if ext == nil {
		return fe
	}
	e, err := wire.ParseResponseExt(ext)
	if err != nil {
		return fe
	}
	if code := ferry.Code(e.Code); code.Valid() {
		fe.Code = code
	}
	fe.Details = e.Details
	if e.NotExecuted {
		return ferry.MarkNotExecuted(fe)
	}
	return fe
}

// Context converts a context error into the *ferry.Error a call returns:
// CodeDeadlineExceeded or CodeCanceled, unwrapping to err.
func Context(err error) *ferry.Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ferry.WrapError(ferry.CodeDeadlineExceeded, err, "the call's deadline passed")
	}
	return ferry.WrapError(ferry.CodeCanceled, err, "the call was canceled")
}

// RequestExt builds the extensions of an outgoing call, or stream, from
// its ctx: the time left before its deadline and its outgoing metadata.
// A deadline that has passed is a DeadlineExceeded error, flagged not
// executed (the call is not sent).
func RequestExt(ctx context.Context) (wire.RequestExt, *ferry.Error) {
	var ext wire.RequestExt
	if dl, ok := ctx.Deadline(); ok {
		ext.Timeout = int64(time.Until(dl))
		if ext.Timeout <= 0 {
			return ext, ferry.MarkNotExecuted(Context(context.DeadlineExceeded))
		}
	}
	switch md := ctx.Value(meta.OutKey{}).(type) {
	case ferry.Metadata:
		ext.Metadata = md
	case *meta.Appended:
		ext.Appended = md
	}
	return ext, nil
}

// Lost is what a call in flight sees when its connection or stream breaks
// under it: an *ferry.Error inside err as is, otherwise CodeUnavailable
// saying that the outcome is unknown (never flagged not executed).
func Lost(err error) *ferry.Error {
	var fe *ferry.Error
	if errors.As(err, &fe) {
		return fe
	}
	return ferry.Errorf(ferry.CodeUnavailable, "connection lost (%s): the call may or may not have executed", strings.TrimPrefix(err.Error(), "ferry: "))
}

// NotSent is what a call sees when its connection had failed before the
// call was written: an *ferry.Error inside err as is, otherwise
// CodeUnavailable saying that the call was not sent. The caller flags it
// not executed.
func NotSent(err error) *ferry.Error {
	var fe *ferry.Error
	if errors.As(err, &fe) {
		return fe
	}
	return ferry.Errorf(ferry.CodeUnavailable, "connection lost (%s): the call was not sent", strings.TrimPrefix(err.Error(), "ferry: "))
}

// Received maps a failure to read the next message of a call's own stream:
// a message over the size or depth limit is CodeResourceExhausted (the
// code the sending side's own limit check gives), a malformed frame is
// CodeInternal (the peer broke the protocol), a context error its code,
// a session this side closed CodeCanceled wrapping ferry.ErrClosed, a
// write that timed out CodeUnavailable saying so, anything else Lost.
func Received(err error) *ferry.Error {
	var fe *ferry.Error
	switch {
	case errors.As(err, &fe):
		return fe
	case errors.Is(err, wire.ErrTooLarge):
		return ferry.WrapError(ferry.CodeResourceExhausted, err, "the message exceeds the receiver's MaxMessageSize")
	case errors.Is(err, wire.ErrTooDeep):
		return ferry.WrapError(ferry.CodeResourceExhausted, err, "the message nests deeper than the receiver's MaxDepth")
	case errors.Is(err, wire.ErrMalformed), errors.Is(err, wire.ErrNotMessage):
		return ferry.WrapError(ferry.CodeInternal, err, "protocol error: "+strings.TrimPrefix(err.Error(), "ferry: "))
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Context(err)
	case errors.Is(err, transport.ErrClosedHere):
		// This side closed its client or connection: as for a unary call
		// in flight then, ferry.ErrClosed.
		return ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the connection was closed by this side")
	case errors.Is(err, wire.ErrStalled):
		return ferry.WrapError(ferry.CodeUnavailable, err, "the peer held part of a message past the partial message timeout: the stream was closed")
	case isTimeout(err):
		// The write deadline (transport.Config.WriteTimeout): a context's
		// end is mapped by the callers before this.
		return ferry.Errorf(ferry.CodeUnavailable, "stream write timed out (%s): the peer did not take a write within the write timeout (it stopped reading, or reads too slowly); the call may or may not have executed", strings.TrimPrefix(err.Error(), "ferry: "))
	}
	return Lost(err)
}

// isTimeout reports whether err is a deadline's timeout (yamux's and the
// net package's errors say so with Timeout). A connection the kernel gave
// up on (ETIMEDOUT: TCP_USER_TIMEOUT, keepalive probes, a connect) also
// says Timeout, but it is a lost connection, not a write of ours that
// waited too long.
func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout() && !errors.Is(err, syscall.ETIMEDOUT)
}

// maxMessage bounds the message of an error response: a handler's error
// is not allowed to make a response the peer refuses as too large, which
// would end the stream every call shares.
const maxMessage = 64 << 10

// capMessage cuts msg to maxMessage bytes, on a rune boundary, marking
// the cut with "…".
func capMessage(msg string) string {
	if len(msg) <= maxMessage {
		return msg
	}
	cut := maxMessage - len("…")
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + "…"
}

// detailsFit reports whether an error's details stay within the bounds
// of call metadata (1,024 pairs, 64 KiB encoded), which the peer applies.
func detailsFit(d map[string]string) bool {
	if len(d) > meta.MaxPairs {
		return false
	}
	n := 1 // map header
	if len(d) >= 16 {
		n = 3
	}
	for k, v := range d {
		n += strSize(len(k)) + strSize(len(v))
		if n > meta.MaxBytes {
			return false
		}
	}
	return true
}

// strSize is the size of a msgpack str of n bytes (msgpack.AppendString).
func strSize(n int) int {
	switch {
	case n < 32:
		return 1 + n
	case n < 1<<8:
		return 2 + n
	case n < 1<<16:
		return 3 + n
	}
	return 5 + n
}
