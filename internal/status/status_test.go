package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func roundTrip(t *testing.T, id uint32, err error, ext bool) (wire.Message, *ferry.Error) {
	t.Helper()
	m, perr := wire.Parse(AppendError(nil, id, err, ext))
	require.NoError(t, perr)
	require.Equal(t, wire.TypeResponse, m.Type)
	assert.Equal(t, id, m.ID)
	return m, Decode(m.Error, m.Ext, msgpack.NewDecoder())
}

func TestErrorRoundTrip(t *testing.T) {
	cases := []error{
		ferry.NewError(ferry.CodeNotFound, "no such key").WithDetail("key", "k1"),
		ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "too many calls")),
		errors.New("plain"),
		context.DeadlineExceeded,
	}
	for i, in := range cases {
		_, got := roundTrip(t, uint32(i+7), in, true)
		want := ferry.FromError(in)
		assert.Equal(t, want.Code, got.Code, "case %d", i)
		assert.Equal(t, want.Message, got.Message, "case %d", i)
		assert.Equal(t, want.Details, got.Details, "case %d", i)
		assert.Equal(t, ferry.NotExecuted(in), ferry.NotExecuted(got), "case %d", i)
	}
}

func TestErrorWithoutExt(t *testing.T) {
	m, got := roundTrip(t, 1<<32-1, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeAborted, "conflict")), false)
	assert.Nil(t, m.Ext, "a spec-only peer gets four elements")
	assert.Equal(t, ferry.CodeUnknown, got.Code)
	assert.Equal(t, "conflict", got.Message)
	assert.False(t, ferry.NotExecuted(got))
}

func TestEmptyMessageSendsTheCodeName(t *testing.T) {
	_, got := roundTrip(t, 0, ferry.NewError(ferry.CodeAborted, ""), true)
	assert.Equal(t, ferry.CodeAborted, got.Code)
	assert.Equal(t, "aborted", got.Message)
}

func TestDecodeForeignShapes(t *testing.T) {
	dec := msgpack.NewDecoder()
	arr, err := msgpack.Marshal([]any{1, "bad thing"})
	require.NoError(t, err)
	assert.Equal(t, `[1,"bad thing"]`, Decode(arr, nil, dec).Message, "other shapes read as JSON")
	n, err := msgpack.Marshal(42)
	require.NoError(t, err)
	assert.Equal(t, "42", Decode(n, nil, dec).Message)
	assert.Equal(t, "undecodable error value", Decode([]byte{0xc1}, nil, dec).Message)
	// A malformed or out-of-range ext leaves the code unknown.
	bad := wire.AppendResponseExt(nil, wire.ResponseExt{Code: 99})
	s := msgpack.AppendString(nil, "x")
	got := Decode(s, bad, dec)
	assert.Equal(t, ferry.CodeUnknown, got.Code)
	assert.Equal(t, ferry.CodeUnknown, Decode(s, []byte{0x91, 0x01}, dec).Code)
}

func TestContext(t *testing.T) {
	e := Context(context.DeadlineExceeded)
	assert.Equal(t, ferry.CodeDeadlineExceeded, e.Code)
	assert.ErrorIs(t, e, context.DeadlineExceeded)
	e = Context(context.Canceled)
	assert.Equal(t, ferry.CodeCanceled, e.Code)
	assert.ErrorIs(t, e, context.Canceled)
}

func TestTransportFailures(t *testing.T) {
	own := ferry.NewError(ferry.CodeFailedPrecondition, "mine")
	cases := []struct {
		in   error
		code ferry.Code
	}{
		{own, ferry.CodeFailedPrecondition},
		{fmt.Errorf("read: %w", wire.ErrTooLarge), ferry.CodeResourceExhausted},
		{wire.ErrTooDeep, ferry.CodeResourceExhausted},
		{fmt.Errorf("%w: trailing bytes", wire.ErrMalformed), ferry.CodeInternal},
		{wire.ErrNotMessage, ferry.CodeInternal},
		{context.DeadlineExceeded, ferry.CodeDeadlineExceeded},
		{context.Canceled, ferry.CodeCanceled},
		{io.ErrUnexpectedEOF, ferry.CodeUnavailable},
		{errors.New("connection reset by peer"), ferry.CodeUnavailable},
		{fmt.Errorf("write: %w", os.ErrDeadlineExceeded), ferry.CodeUnavailable},
	}
	for _, c := range cases {
		got := Received(c.in)
		assert.Equal(t, c.code, got.Code, "%v", c.in)
		assert.False(t, ferry.NotExecuted(got), "%v", c.in)
		assert.Equal(t, 1, strings.Count(got.Error(), "ferry: "), "one prefix: %v", got)
	}
	assert.Same(t, own, Received(own))
	timedOut := Received(fmt.Errorf("write: %w", os.ErrDeadlineExceeded))
	assert.Contains(t, timedOut.Message, "stream write timed out", "a write deadline is named, not a lost connection")
	assert.Contains(t, Received(io.ErrUnexpectedEOF).Message, "connection lost")
	// A connection the kernel timed out (TCP_USER_TIMEOUT, keepalive)
	// says Timeout() too, but no write of ours waited: it is lost.
	gone := Received(fmt.Errorf("session ended: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}))
	assert.Equal(t, ferry.CodeUnavailable, gone.Code)
	assert.Contains(t, gone.Message, "connection lost")
	assert.NotContains(t, gone.Message, "write timed out")
	lost := Lost(io.EOF)
	assert.Equal(t, ferry.CodeUnavailable, lost.Code)
	assert.Equal(t, "connection lost (EOF): the call may or may not have executed", lost.Message)
	assert.Same(t, own, Lost(fmt.Errorf("wrapped: %w", own)))
	assert.Equal(t, "ferry: unavailable: connection lost (message exceeds the size limit): the call may or may not have executed", Lost(wire.ErrTooLarge).Error())
}
