package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAudit10CancelOvertakesTheOpen checks PROTOCOL.md 6, "Cancel": "a
// receiver remembers a cancel for a stream it has not started serving yet
// (Ferry keeps the newest 64) and cancels that call as it starts". A raw
// session cancels the next 65 streams it will open, then opens two: the
// first one's cancel was pushed out by the 64 newer ones and it is served;
// the second is canceled as it starts (its handler's context ends with
// Canceled, no status, the stream closes).
func TestAudit10CancelOvertakesTheOpen(t *testing.T) {
	s := newServer(t)
	ended := make(chan error, 2)
	release := make(chan struct{})
	require.NoError(t, s.HandleStream("A10.Hold", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		select {
		case <-ctx.Done():
		case <-release:
		}
		ended <- ctx.Err()
		return "served", nil
	}))
	ws := dialSession(t, listen(t, s))
	next := ws.call.st.StreamID() + 2 // yamux numbers a side's streams 1, 3, 5, ...
	for k := range uint32(65) {
		ws.call.write(notification("$ferry.cancelstream", []any{next + 2*k}))
	}
	// The call stream is read in order: the cancels are in.
	r := parseResponse(t, ws.call.read2(request(2, "Arith.Add", []any{1, 2}, map[string]any{})))
	require.EqualValues(t, 3, r.result)

	first := ws.openCall("A10.Hold")
	second := ws.openCall("A10.Hold")
	require.Equal(t, next, first.st.StreamID())
	require.Equal(t, next+2, second.st.StreamID())
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, context.Canceled, "the call canceled before it started")
	case <-time.After(a10Wait):
		t.Fatal("no call was canceled as it started")
	}
	require.NoError(t, second.st.SetReadDeadline(time.Now().Add(a10Wait)))
	rest, err := io.ReadAll(second.r)
	require.NoError(t, err, "the canceled stream is closed")
	assert.Empty(t, rest, "no status for a canceled call")

	close(release)
	assert.NoError(t, <-ended, "the oldest cancel was forgotten: the call ran")
	msgs, r := first.status()
	assert.Empty(t, msgs)
	assert.Nil(t, r.err)
	assert.Equal(t, "served", r.result)
	first.ended()
}

// TestAudit10ServerClosesAfterStreamCloseTimeout checks PROTOCOL.md 6:
// after the final status "the server closes its side of the stream once
// the caller has closed its own (or after StreamCloseTimeout ...)", with
// a raw caller that never closes its side.
func TestAudit10ServerClosesAfterStreamCloseTimeout(t *testing.T) {
	cfg := transport.DefaultConfig()
	cfg.StreamCloseTimeout = 300 * time.Millisecond
	s := newServer(t, server.WithConfig(cfg))
	require.NoError(t, s.HandleStream("A10.Done", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		return 7, nil
	}))
	ws := dialSession(t, listen(t, s))
	st := ws.openCall("A10.Done")
	msgs, r := st.status()
	assert.Empty(t, msgs)
	assert.EqualValues(t, 7, r.result)
	start := time.Now()
	require.NoError(t, st.st.SetReadDeadline(time.Now().Add(a10Wait)))
	rest, err := io.ReadAll(st.r)
	took := time.Since(start)
	require.NoError(t, err, "the server closed its side")
	assert.Empty(t, rest, "nothing follows the final status")
	assert.GreaterOrEqual(t, took, cfg.StreamCloseTimeout/2, "the server waited for the caller first")
	t.Logf("the server closed its side %v after the status", took.Round(time.Millisecond))
}

// TestAudit10MessageSizeClasses checks PROTOCOL.md 6, "Size": "Each
// message is bounded by MaxMessageSize, each side enforcing its own. A
// sender refuses to send a message over its own limit
// (resource_exhausted, the stream stays usable)", at 1 KiB, 64 KiB, just
// under the 1 MiB stream window and a frame of exactly MaxMessageSize
// (4 MiB), both ways; a frame one byte over is refused by the sender on
// either side, and a raw peer's frame of exactly the limit is served.
func TestAudit10MessageSizeClasses(t *testing.T) {
	const exact = docMaxMessage - 7 // [3, bin 32]: 2 + 5 bytes of framing
	s := newServer(t)
	overs := make(chan error, 4)
	require.NoError(t, s.HandleStream("A10.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		for {
			var b []byte
			if err := st.Recv(&b); err == io.EOF {
				return len(b), nil
			} else if err != nil {
				return nil, err
			}
			if len(b) == 0 { // send one too large, then go on
				overs <- st.Send(make([]byte, exact+1))
				b = []byte("after")
			}
			if err := st.Send(b); err != nil {
				return nil, err
			}
		}
	}))
	c := dialTCP(t, s)
	st, err := c.NewStream(t.Context(), "A10.Echo")
	require.NoError(t, err)
	defer st.Close()
	for _, n := range []int{1 << 10, 64 << 10, 1<<20 - 1<<10, exact} {
		payload := bytes.Repeat([]byte{byte(n)}, n)
		require.NoError(t, st.Send(payload), "%d bytes", n)
		var got []byte
		require.NoError(t, st.Recv(&got), "%d bytes", n)
		assert.True(t, bytes.Equal(payload, got), "%d bytes echoed", n)
	}
	err = st.Send(make([]byte, exact+1))
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "the caller's Send: %v", err)
	require.NoError(t, st.Send([]byte{}))
	err = <-overs
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "the handler's Send: %v", err)
	var got []byte
	require.NoError(t, st.Recv(&got), "the stream stays usable")
	assert.Equal(t, "after", string(got))
	require.NoError(t, st.CloseSend())
	require.ErrorIs(t, st.Recv(nil), io.EOF)

	ws := dialSession(t, listen(t, s))
	raw := ws.openCall("A10.Echo")
	whole := frame(bytes.Repeat([]byte{'x'}, exact))
	require.Len(t, whole, docMaxMessage)
	wrote := make(chan error, 1)
	go func() { // the echo comes back while the frame goes out
		_ = raw.st.SetWriteDeadline(time.Now().Add(a10Wait))
		_, err := raw.st.Write(append(whole, closeSend...))
		wrote <- err
	}()
	msgs, r := raw.status()
	require.NoError(t, <-wrote)
	require.Len(t, msgs, 1, "status %v", r.err)
	assert.Len(t, msgs[0], exact, fmt.Sprintf("a frame of exactly %d bytes is served", docMaxMessage))
	assert.Nil(t, r.err)
	raw.ended()
}

// TestAudit10UndecodableMessageKeepsTheCall checks client.Stream (and its
// Recv: "A message that does not decode into v is dropped with
// CodeInternal, ..., and the call goes on") and server.Stream.Recv (the
// same with CodeInvalidArgument). client.Stream
// used to say "Read until Recv returns io.EOF (or an error) ... to release
// it", but this error releases nothing: the handler still runs.
func TestAudit10UndecodableMessageKeepsTheCall(t *testing.T) {
	s := streamServer(t)
	require.NoError(t, s.HandleStream("A10.Ints", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		sum := 0
		for {
			var n int
			err := st.Recv(&n)
			switch {
			case err == io.EOF:
				return sum, nil
			case ferry.CodeOf(err) == ferry.CodeInvalidArgument:
				sum += 1000 // counted, and the call goes on
			case err != nil:
				return nil, err
			}
			sum += n
		}
	}))
	c := dialTCP(t, s)

	st, err := c.NewStream(t.Context(), "Num.Double")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&num{1}))
	var bad struct{ N string }
	err = st.Recv(&bad)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	require.NoError(t, st.Send(&num{2}), "the call goes on")
	var m num
	require.NoError(t, st.Recv(&m))
	assert.Equal(t, 4, m.N, "the next message, not the dropped one")
	require.NoError(t, st.CloseSend())
	assert.ErrorIs(t, st.Recv(&m), io.EOF)

	st, err = c.NewStream(t.Context(), "A10.Ints")
	require.NoError(t, err)
	defer st.Close()
	for _, v := range []any{1, "two", 3} {
		require.NoError(t, st.Send(v))
	}
	require.NoError(t, st.CloseSend())
	require.ErrorIs(t, st.Recv(nil), io.EOF)
	var sum int
	require.NoError(t, st.Result(&sum))
	assert.Equal(t, 1004, sum, "the handler dropped one message and read on")
}
