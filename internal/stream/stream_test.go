package stream_test

import (
	"errors"
	"io"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pair opens a streaming call over a net.Pipe: the caller's Conn has sent
// the opening request, and the handler's Conn has consumed the marker, as
// a server does before it hands the stream on.
func pair(t *testing.T, method string, ext wire.RequestExt) (caller, handler *stream.Call) {
	t.Helper()
	a, b := net.Pipe()
	caller = stream.New(a, wire.DefaultLimits)
	opened := make(chan error, 1)
	go func() { opened <- caller.WriteOpen(method, ext) }()
	var marker [1]byte
	_, err := io.ReadFull(b, marker[:])
	require.NoError(t, err)
	require.Equal(t, wire.StreamMarker, marker[0])
	handler = stream.New(b, wire.DefaultLimits)
	got, gotExt, err := handler.ReadOpen()
	require.NoError(t, err)
	require.NoError(t, <-opened)
	assert.Equal(t, method, got)
	assert.Equal(t, ext.Timeout, gotExt.Timeout)
	assert.Equal(t, ext.Metadata, gotExt.Incoming.Map())
	t.Cleanup(func() {
		caller.Close()
		handler.Close()
	})
	return caller, handler
}

// Data flows both ways, CloseSend ends one direction, and the handler's
// final status ends the call with its result.
func TestStreamExchange(t *testing.T) {
	caller, handler := pair(t, "Chat.Talk", wire.RequestExt{Metadata: map[string]string{"room": "a"}})

	go func() {
		for i := range 3 {
			_ = caller.Send(i)
		}
		_ = caller.CloseSend()
	}()
	var got []int
	for {
		var n int
		err := handler.Recv(&n)
		if errors.Is(err, stream.ErrEnd) {
			break
		}
		require.NoError(t, err)
		got = append(got, n)
	}
	assert.Equal(t, []int{0, 1, 2}, got)

	err := caller.Send(3)
	assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "Send after CloseSend")
	assert.NoError(t, caller.CloseSend(), "a second CloseSend does nothing")

	go func() {
		_ = handler.Send("reply")
		_ = handler.SendStatus(len(got), nil)
	}()
	var s string
	require.NoError(t, caller.Recv(&s))
	assert.Equal(t, "reply", s)
	assert.False(t, caller.Final())
	require.ErrorIs(t, caller.Recv(nil), io.EOF)
	assert.True(t, caller.Final())
	var result int
	require.NoError(t, caller.Result(&result))
	assert.Equal(t, 3, result)
	assert.ErrorIs(t, caller.Recv(nil), io.EOF, "io.EOF every time after the status")

	err = handler.Send("late")
	assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(err), "Send after SendStatus")
}

// A failing handler's status reaches the caller with its code, details
// and the not-executed flag, like a unary call's error.
func TestStreamErrorStatus(t *testing.T) {
	caller, handler := pair(t, "Chat.Talk", wire.RequestExt{})
	herr := ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "draining").WithDetail("retry", "yes"))
	go func() { _ = handler.SendStatus(nil, herr) }()
	err := caller.Recv(nil)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeUnavailable, fe.Code)
	assert.Equal(t, "draining", fe.Message)
	assert.Equal(t, map[string]string{"retry": "yes"}, fe.Details)
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, err, caller.Result(nil), "Result returns the same error")
}

func TestStreamResultBeforeEnd(t *testing.T) {
	caller, _ := pair(t, "Chat.Talk", wire.RequestExt{})
	assert.Error(t, caller.Result(nil))
}

// A message that does not decode into the receiver's type is an
// invalid_argument error, and the stream goes on.
func TestStreamRecvWrongType(t *testing.T) {
	caller, handler := pair(t, "Chat.Talk", wire.RequestExt{})
	go func() {
		_ = caller.Send("not a number")
		_ = caller.Send(7)
	}()
	var n int
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(handler.Recv(&n)))
	require.NoError(t, handler.Recv(&n))
	assert.Equal(t, 7, n)
}

// A stream that ends without a final status is io.ErrUnexpectedEOF to the
// caller.
func TestStreamEndsWithoutStatus(t *testing.T) {
	caller, handler := pair(t, "Chat.Talk", wire.RequestExt{})
	require.NoError(t, handler.Close())
	assert.ErrorIs(t, caller.Recv(nil), io.ErrUnexpectedEOF)
}

// A value Send cannot encode is refused before anything is written.
func TestStreamSendUnencodable(t *testing.T) {
	caller, handler := pair(t, "Chat.Talk", wire.RequestExt{})
	err := caller.Send(make(chan int))
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err))
	go func() { _ = caller.Send(1) }()
	var n int
	require.NoError(t, handler.Recv(&n), "the stream is still usable")
	assert.Equal(t, 1, n)
}

// A frame that is neither data, end nor a response breaks the stream with
// a malformed error.
func TestStreamMalformedFrame(t *testing.T) {
	a, b := net.Pipe()
	c := stream.New(a, wire.DefaultLimits)
	t.Cleanup(func() { c.Close(); b.Close() })
	go func() { _, _ = b.Write([]byte{0x92, 0x09, 0x00}) }() // [9, 0]: no such frame
	assert.ErrorIs(t, c.Recv(nil), wire.ErrMalformed)
}

// ReadOpen refuses a stream that does not open with a request.
func TestStreamReadOpenRefusesOther(t *testing.T) {
	a, b := net.Pipe()
	c := stream.New(a, wire.DefaultLimits)
	t.Cleanup(func() { c.Close(); b.Close() })
	go func() { _, _ = b.Write([]byte{0x92, 0x03, 0x01}) }() // a data frame
	_, _, err := c.ReadOpen()
	assert.ErrorIs(t, err, wire.ErrMalformed)
}
