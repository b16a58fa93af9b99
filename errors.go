package ferry

import (
	"context"
	"errors"
	"fmt"
	"maps"
)

// Code classifies an error. The values match gRPC's status codes so that
// operators can read them without a table; there is no "OK" code because a
// nil error already means success.
type Code uint32

// The closed set of error codes.
const (
	CodeCanceled           Code = 1  // the caller canceled the call
	CodeUnknown            Code = 2  // an error with no more specific code
	CodeInvalidArgument    Code = 3  // the arguments are malformed or do not decode
	CodeDeadlineExceeded   Code = 4  // the deadline passed before the call completed
	CodeNotFound           Code = 5  // a requested entity does not exist
	CodeAlreadyExists      Code = 6  // the entity to create exists already
	CodePermissionDenied   Code = 7  // the caller may not do this
	CodeResourceExhausted  Code = 8  // a limit was hit (messages, handlers, quota)
	CodeFailedPrecondition Code = 9  // the system is not in a state to do this
	CodeAborted            Code = 10 // the operation was aborted, typically a conflict
	CodeOutOfRange         Code = 11 // a value is past the valid range
	CodeUnimplemented      Code = 12 // the method does not exist or is not supported
	CodeInternal           Code = 13 // an invariant broke (a handler panicked, a reply failed to encode)
	CodeUnavailable        Code = 14 // the peer cannot be reached or is going away
	CodeDataLoss           Code = 15 // unrecoverable data loss or corruption
	CodeUnauthenticated    Code = 16 // the caller has no valid credentials
)

var codeNames = [...]string{
	CodeCanceled:           "canceled",
	CodeUnknown:            "unknown",
	CodeInvalidArgument:    "invalid_argument",
	CodeDeadlineExceeded:   "deadline_exceeded",
	CodeNotFound:           "not_found",
	CodeAlreadyExists:      "already_exists",
	CodePermissionDenied:   "permission_denied",
	CodeResourceExhausted:  "resource_exhausted",
	CodeFailedPrecondition: "failed_precondition",
	CodeAborted:            "aborted",
	CodeOutOfRange:         "out_of_range",
	CodeUnimplemented:      "unimplemented",
	CodeInternal:           "internal",
	CodeUnavailable:        "unavailable",
	CodeDataLoss:           "data_loss",
	CodeUnauthenticated:    "unauthenticated",
}

// String returns the code's snake_case name, or "code_N" for a number
// outside the set.
func (c Code) String() string {
	if c > 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return fmt.Sprintf("code_%d", uint32(c))
}

// Valid reports whether c is one of the defined codes.
func (c Code) Valid() bool { return c > 0 && int(c) < len(codeNames) }

// Error is the error type of every call that fails. A handler's *Error
// reaches the caller with its code, message and details intact (a code
// outside the set, 0 included, arrives as CodeUnknown); any other handler
// error arrives as CodeUnknown carrying its message, and a nil *Error
// returned as a non-nil error as CodeInternal (see FromError).
type Error struct {
	Code    Code              // what kind of failure
	Message string            // human-readable, sent as the MessagePack-RPC error string
	Details map[string]string // optional machine-readable facts; nil when none

	notExecuted bool  // set when the call provably never reached a handler
	cause       error // local cause, never sent over the wire
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NewError returns an *Error with code and message.
func NewError(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Error formats the error as "ferry: <code>: <message>", or "ferry: <code>"
// when the message is empty. A nil *Error returned as an error (a typed
// nil, a common slip) reads as the internal error FromError makes of it.
func (e *Error) Error() string {
	if e == nil {
		return "ferry: internal: " + nilErrorMessage
	}
	if e.Message == "" {
		return "ferry: " + e.Code.String()
	}
	return "ferry: " + e.Code.String() + ": " + e.Message
}

// Unwrap lets errors.Is see through a remote cancellation or deadline to
// context.Canceled and context.DeadlineExceeded, and through a local error
// to its cause.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	if e.cause != nil {
		return e.cause
	}
	switch e.Code {
	case CodeCanceled:
		return context.Canceled
	case CodeDeadlineExceeded:
		return context.DeadlineExceeded
	}
	return nil
}

// WithDetail returns e after setting Details[key] = value.
func (e *Error) WithDetail(key, value string) *Error {
	if e.Details == nil {
		e.Details = make(map[string]string, 1)
	}
	e.Details[key] = value
	return e
}

// CodeOf returns the code of err: the code of an *Error found with
// errors.As, CodeCanceled or CodeDeadlineExceeded for context errors,
// CodeUnknown for any other non-nil error and 0 for nil.
func CodeOf(err error) Code {
	if err == nil {
		return 0
	}
	var fe *Error
	if errors.As(err, &fe) {
		return FromError(fe).Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return CodeDeadlineExceeded
	}
	return CodeUnknown
}

// NotExecuted reports whether err says that the call provably never reached
// a handler: refused by a limit, refused or left unread by a server that
// was going away, or never written to any connection. Such a call is
// always safe to retry.
// A call that failed when a connection broke mid-flight is not in this
// class: its outcome is unknown.
func NotExecuted(err error) bool {
	var fe *Error
	return errors.As(err, &fe) && fe != nil && fe.notExecuted
}

// MarkNotExecuted returns a copy of e flagged so that NotExecuted reports
// true. It is for code that refuses a call before any handler runs: Ferry's
// own server and transports (limits, shutdown, calls never sent), and a
// user's server interceptor that refuses a call it did not run (a rate
// limit), so that callers and cluster retry it safely. The flag crosses
// the wire. The copy's Details are its own: adding a detail to it leaves e
// as it was, so one shared *Error may be marked by concurrent calls.
func MarkNotExecuted(e *Error) *Error {
	c := *e
	c.notExecuted = true
	c.Details = maps.Clone(e.Details)
	return &c
}

// WrapError returns an *Error with code and message whose Unwrap returns
// cause, so errors.Is(err, cause) holds on the local side. The cause is not
// sent over the wire.
func WrapError(code Code, cause error, message string) *Error {
	return &Error{Code: code, Message: message, cause: cause}
}

// FromError converts any error into an *Error: an *Error found with
// errors.As is returned as is; context errors map to their codes; anything
// else becomes CodeUnknown with err's message. A nil *Error in a non-nil
// error (a handler's typed nil: var e *ferry.Error; return e) becomes
// CodeInternal, as any other broken invariant does, and so does an error
// whose methods panic when read (a nil *MyError whose Error reads a
// field), so that a handler's slip fails its call, not the server.
func FromError(err error) (fe *Error) {
	if err == nil {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			fe = &Error{Code: CodeInternal, Message: fmt.Sprintf("reading a %T error panicked: %v", err, p)}
		}
	}()
	if errors.As(err, &fe) {
		if fe == nil {
			return &Error{Code: CodeInternal, Message: nilErrorMessage}
		}
		return fe
	}
	return &Error{Code: CodeOf(err), Message: err.Error()}
}

// nilErrorMessage is the message of what FromError makes of a nil *Error
// in a non-nil error.
const nilErrorMessage = "a nil *ferry.Error was returned as an error"

// ErrClosed is wrapped by the error of every call that fails because this
// side closed its client or connection.
var ErrClosed = errors.New("ferry: closed")

// ErrDropped is wrapped by the error of a stream's Recv that read a
// message but could not deliver it (it does not decode into Recv's
// argument, or decoding it would pass the memory budget): that message is
// dropped and the stream goes on, unlike after any other error of Recv.
// Interceptors that end something with the stream tell the two apart
// with errors.Is.
var ErrDropped = errors.New("ferry: the message was dropped")
