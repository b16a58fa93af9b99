package engine_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	mp "github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The peer calls the engine: replies, handler errors with code and
// details, unknown methods, panics and undecodable arguments each come back
// as the spec's response to the right msgid.
func TestServeRequest(t *testing.T) {
	s := newSvc()
	_, p := start(t, engine.Options{Registry: s.registry(t)})

	p.send(request(7, "T.Double", params(21), nil))
	m := p.read()
	require.Equal(t, wire.TypeResponse, m.Type)
	assert.Equal(t, uint32(7), m.ID)
	assert.Nil(t, m.Error)
	assert.Equal(t, 42, decode[int](t, m.Result))

	// Pipelined in one write; each answered under its own id. A spec-only
	// peer (no ext) gets a string error and no ext map.
	p.send(request(1, "T.Fail", params(0), nil), request(2, "Nope.Nope", params(), nil))
	got := map[uint32]string{}
	for range 2 {
		m := p.read()
		assert.Nil(t, m.Ext, "a spec-only peer gets no ext map")
		got[m.ID] = errorOf(t, m).Message
	}
	assert.Equal(t, map[uint32]string{1: "no such thing", 2: `unknown method "Nope.Nope"`}, got)
}

func TestServeRequestErrorsCarryCodes(t *testing.T) {
	s := newSvc()
	_, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true})
	tests := []struct {
		method   string
		params   []byte
		code     ferry.Code
		notExec  bool
		contains string
	}{
		{"T.Fail", params(0), ferry.CodeNotFound, false, "no such thing"},
		{"Nope.Nope", params(), ferry.CodeUnimplemented, true, "unknown method"},
		{"T.Panic", params(0), ferry.CodeInternal, false, "panicked"},
		{"T.Double", mp.AppendString(mp.AppendArrayHeader(nil, 1), "x"), ferry.CodeInvalidArgument, false, "T.Double"},
		{"$ferry.nosuch", params(), ferry.CodeUnimplemented, true, "$ferry.nosuch"},
	}
	for i, tt := range tests {
		p.send(request(uint32(i+1), tt.method, tt.params, noExt))
		m := p.read()
		assert.Equal(t, uint32(i+1), m.ID)
		e := errorOf(t, m)
		assert.Equal(t, tt.code, e.Code, tt.method)
		assert.Equal(t, tt.notExec, e.NotExecuted, tt.method)
		assert.Contains(t, e.Message, tt.contains, tt.method)
	}
}

// A request's ext carries metadata into the handler's context.
func TestServeRequestMetadata(t *testing.T) {
	s := newSvc()
	_, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true})
	ext := wire.AppendRequestExt(nil, wire.RequestExt{Metadata: map[string]string{"tenant": "a"}})
	p.send(request(3, "T.Double", params(1), ext))
	m := p.read()
	assert.Equal(t, 2, decode[int](t, m.Result))
	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, ferry.Metadata{"tenant": "a"}, s.md)
}

// The engine calls the peer: the request carries the args as a
// one-element array, the reply decodes into the caller's value, an error
// response keeps its code, and a reply to an unknown id is ignored.
func TestCallAndReply(t *testing.T) {
	c, p := start(t, engine.Options{FerryPeer: true})
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var n int
		err := c.Call(t.Context(), "Peer.Inc", 41, &n)
		done <- result{n, err}
	}()
	m := p.read()
	require.Equal(t, wire.TypeRequest, m.Type)
	assert.Equal(t, "Peer.Inc", string(m.Method))
	assert.Equal(t, 41, reqParams[int](t, m))
	assert.NotNil(t, m.Ext, "a Ferry peer gets the ext map")

	p.send(response(m.ID+1000, mp.AppendInt(nil, 0)), response(m.ID, mp.AppendInt(nil, 42)))
	r := recv(t, done)
	require.NoError(t, r.err)
	assert.Equal(t, 42, r.n)

	errc := make(chan error, 1)
	go func() { errc <- c.Call(t.Context(), "Peer.Fail", nil, nil) }()
	m = p.read()
	assert.Equal(t, []any{}, decode[[]any](t, m.Params), "nil args are sent as []")
	p.send(errorResponse(m.ID, ferry.CodePermissionDenied, "ferry: go away"))
	err := recv(t, errc)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
	assert.False(t, ferry.NotExecuted(err))
}

// Notifications go both ways and are never answered.
func TestNotification(t *testing.T) {
	s := newSvc()
	c, p := start(t, engine.Options{Registry: s.registry(t)})

	require.NoError(t, c.Notify(t.Context(), "Peer.Event", "hello"))
	m := p.read()
	assert.Equal(t, wire.TypeNotification, m.Type)
	assert.Equal(t, "Peer.Event", string(m.Method))
	assert.Equal(t, "hello", reqParams[string](t, m))

	// A notification to a failing or unknown method gets no response: the
	// next message the peer reads answers the request after them.
	p.send(notification("T.Note", params(5)), notification("T.Fail", params(0)),
		notification("Nope.Nope", params()), request(9, "T.Double", params(2), nil))
	assert.Equal(t, 5, recv(t, s.notes))
	m = p.read()
	assert.Equal(t, uint32(9), m.ID)
	assert.Equal(t, 4, decode[int](t, m.Result))
}

// $ferry.cancel from the peer cancels the handler's context, and the
// canceled call gets no response.
func TestPeerCancelsHandler(t *testing.T) {
	s := newSvc()
	c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true})
	p.send(request(11, "T.Block", params(1), noExt))
	recv(t, s.entered)
	assert.Equal(t, 1, c.Running())

	p.send(notification("$ferry.cancel", params(11)))
	assert.ErrorIs(t, recv(t, s.exited), context.Canceled)

	// A cancel for an id nobody runs is ignored.
	p.send(notification("$ferry.cancel", params(999)), request(12, "T.Double", params(3), noExt))
	m := p.read()
	assert.Equal(t, uint32(12), m.ID, "the canceled call was answered")
	assert.Equal(t, 6, decode[int](t, m.Result))
	require.NoError(t, c.WaitHandlers(t.Context()))
	assert.Equal(t, 0, c.Running())
}

// Canceling an outgoing call's context returns at once and asks a Ferry
// peer to cancel its handler; a late reply is dropped.
func TestCancelOutgoingCall(t *testing.T) {
	c, p := start(t, engine.Options{FerryPeer: true})
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		var n int
		errc <- c.Call(ctx, "Peer.Slow", 1, &n)
	}()
	req := p.read()
	cancel()
	err := recv(t, errc)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
	assert.ErrorIs(t, err, context.Canceled)

	m := p.read()
	assert.Equal(t, wire.TypeNotification, m.Type)
	assert.Equal(t, "$ferry.cancel", string(m.Method))
	assert.Equal(t, req.ID, reqParams[uint32](t, m))

	p.send(response(req.ID, mp.AppendInt(nil, 1))) // too late: ignored
	go func() { errc <- c.Call(t.Context(), "Peer.Next", nil, nil) }()
	m = p.read()
	p.send(response(m.ID, mp.AppendNil(nil)))
	require.NoError(t, recv(t, errc))
}

// A call whose context has ended is never sent.
func TestCallWithEndedContext(t *testing.T) {
	c, p := start(t, engine.Options{FerryPeer: true})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := c.Call(ctx, "Peer.X", nil, nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.True(t, ferry.NotExecuted(err))
	go func() { _ = c.Close() }()
	assert.Equal(t, "$ferry.drained", string(p.read().Method))
	p.readEOF()
}

// The peer's $ferry.goaway refuses new outgoing calls as not executed and
// calls OnGoAway.
func TestPeerGoAway(t *testing.T) {
	var gone atomic.Int32
	c, p := start(t, engine.Options{FerryPeer: true, OnGoAway: func() { gone.Add(1) }})
	p.send(notification("$ferry.goaway", mp.AppendArrayHeader(nil, 0)))
	// The engine handles messages in order: once it has answered a later
	// request, it has handled the go-away.
	p.send(request(1, "Nope.Nope", params(), noExt))
	p.read()
	assert.Equal(t, int32(1), gone.Load())
	err := c.Call(t.Context(), "Peer.X", nil, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err))
}

// The peer's $ferry.drained with n fails as not executed every call it
// did not read (sequence > n), and keeps the ones it read waiting for
// their replies.
func TestPeerDrained(t *testing.T) {
	c, p := start(t, engine.Options{FerryPeer: true})
	errs := make([]chan error, 3)
	ids := make([]uint32, 3)
	for i := range errs {
		errs[i] = make(chan error, 1)
		go func() { errs[i] <- c.Call(t.Context(), "Peer.X", i, nil) }()
		ids[i] = p.read().ID // one at a time: sequence i+1
	}
	p.send(notification("$ferry.drained", params(1)))
	for _, i := range []int{1, 2} {
		err := recv(t, errs[i])
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "call %d", i)
		assert.True(t, ferry.NotExecuted(err), "call %d", i)
	}
	p.send(response(ids[0], mp.AppendNil(nil)))
	require.NoError(t, recv(t, errs[0]))
	err := c.Call(t.Context(), "Peer.Y", nil, nil)
	assert.True(t, ferry.NotExecuted(err), "no call is sent after drained")
}

// Drain tells a Ferry peer $ferry.goaway and refuses new incoming calls as
// not executed while running ones finish; Close then tells the peer how
// many requests it read ($ferry.drained).
func TestDrainAndClose(t *testing.T) {
	s := newSvc()
	c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true})
	p.send(request(1, "T.Block", params(1), noExt))
	recv(t, s.entered)

	c.Drain()
	c.Drain() // idempotent: one go-away
	m := p.read()
	assert.Equal(t, wire.TypeNotification, m.Type)
	assert.Equal(t, "$ferry.goaway", string(m.Method))

	p.send(request(2, "T.Double", params(1), noExt))
	e := errorOf(t, p.read())
	assert.Equal(t, ferry.CodeUnavailable, e.Code)
	assert.True(t, e.NotExecuted)

	close(s.release)
	m = p.read()
	assert.Equal(t, uint32(1), m.ID, "a running call finishes after Drain")
	require.NoError(t, recv(t, s.exited))

	closeErr := make(chan error, 1)
	go func() { closeErr <- c.Close() }()
	m = p.read()
	assert.Equal(t, "$ferry.drained", string(m.Method))
	assert.Equal(t, uint64(2), reqParams[uint64](t, m), "requests read")
	p.readEOF()
	require.NoError(t, recv(t, closeErr))
	closed(t, c.Done())
	assert.ErrorIs(t, c.Err(), ferry.ErrClosed)
}

// Close fails calls in flight with ferry.ErrClosed and cancels running
// handlers.
func TestCloseFailsCallsAndCancelsHandlers(t *testing.T) {
	s := newSvc()
	c, p := start(t, engine.Options{Registry: s.registry(t)})
	errc := make(chan error, 1)
	go func() { errc <- c.Call(t.Context(), "Peer.X", nil, nil) }()
	p.read()
	p.send(request(1, "T.Block", params(1), nil))
	recv(t, s.entered)

	go func() { _, _ = io.Copy(io.Discard, p.conn) }() // whatever the engine still writes
	require.NoError(t, c.Close())
	err := recv(t, errc)
	assert.ErrorIs(t, err, ferry.ErrClosed)
	assert.ErrorIs(t, recv(t, s.exited), context.Canceled)
	assert.Equal(t, 0, c.Running())
}

// A locked (not yet authenticated) conn refuses requests as
// unauthenticated and not executed, drops notifications and bounds
// messages; a Control handler may Unlock it, and handlers then see the
// identity.
func TestLockedConn(t *testing.T) {
	s := newSvc()
	var c *engine.Channel
	c, p := start(t, engine.Options{
		Registry:        s.registry(t),
		FerryPeer:       true,
		Unauthenticated: true,
		Control: func(method string, params []byte) (any, error) {
			if method != "$ferry.auth" {
				return nil, ferry.NewError(ferry.CodeUnimplemented, "no")
			}
			c.Authenticate("alice")
			return "ok", nil
		},
	})
	p.send(notification("T.Note", params(1)), request(1, "T.Double", params(1), noExt))
	e := errorOf(t, p.read())
	assert.Equal(t, ferry.CodeUnauthenticated, e.Code)
	assert.True(t, e.NotExecuted)
	assert.Empty(t, s.notes, "a notification ran on a locked conn")

	p.send(request(2, "$ferry.auth", params(), noExt))
	m := p.read()
	assert.Equal(t, uint32(2), m.ID)
	assert.Equal(t, "ok", decode[string](t, m.Result))

	p.send(request(3, "T.Whoami", params(0), noExt))
	p.read()
	assert.Equal(t, "alice", recv(t, s.identity))
}

func TestLockedConnBoundsMessages(t *testing.T) {
	s := newSvc()
	c, p := start(t, engine.Options{Registry: s.registry(t), Unauthenticated: true, UnauthMaxMessage: 300})
	big := mp.AppendString(mp.AppendArrayHeader(nil, 1), string(make([]byte, 1000)))
	// The engine stops reading at the header: the rest of the write fails.
	go func() { _, _ = p.conn.Write(request(1, "T.Double", big, nil)) }()
	p.readEOF()
	closed(t, c.Done())
	assert.ErrorIs(t, c.Err(), wire.ErrTooLarge)
}

// With a Limiter of one slot and one queue place, a second call queues and
// a third is refused as resource_exhausted and not executed; the queued
// one runs when the first returns.
func TestLimiterQueue(t *testing.T) {
	s := newSvc()
	lim := engine.NewLimiter(1, 1)
	_, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
	p.send(request(1, "T.Block", params(1), noExt))
	recv(t, s.entered)
	p.send(request(2, "T.Block", params(2), noExt), request(3, "T.Double", params(3), noExt))

	m := p.read()
	assert.Equal(t, uint32(3), m.ID)
	e := errorOf(t, m)
	assert.Equal(t, ferry.CodeResourceExhausted, e.Code)
	assert.True(t, e.NotExecuted)
	assert.Equal(t, 1, lim.Queued())
	assert.Empty(t, s.entered, "the queued call started before a slot was free")

	close(s.release)
	got := map[uint32]int{}
	for range 2 {
		m := p.read()
		got[m.ID] = decode[int](t, m.Result)
	}
	assert.Equal(t, map[uint32]int{1: 1, 2: 2}, got)
	assert.Equal(t, 0, lim.Queued())
	// The slot is given back: a new call runs (a leaked slot would leave it
	// queued and unanswered).
	p.send(request(4, "T.Double", params(4), noExt))
	m = p.read()
	assert.Equal(t, uint32(4), m.ID)
	assert.Equal(t, 8, decode[int](t, m.Result))
}

// Close answers a call queued behind the limiter as not executed: its
// handler never runs.
func TestCloseRefusesQueuedCall(t *testing.T) {
	s := newSvc()
	lim := engine.NewLimiter(1, 1)
	c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true, Limiter: lim})
	p.send(request(1, "T.Hold", params(1), noExt), request(2, "T.Double", params(2), noExt))
	recv(t, s.entered)
	// Once the third request is refused, the second has been queued.
	p.send(request(3, "T.Double", params(3), noExt))
	assert.Equal(t, uint32(3), p.read().ID)

	go func() { _ = c.Close() }()
	m := p.read()
	assert.Equal(t, uint32(2), m.ID)
	e := errorOf(t, m)
	assert.True(t, e.NotExecuted)
	assert.Equal(t, ferry.CodeUnavailable, e.Code)

	close(s.release) // T.Hold ignores its context: Close waits for it
	for {
		m := p.read()
		if m.Type == wire.TypeNotification {
			assert.Equal(t, "$ferry.drained", string(m.Method))
			break
		}
		assert.Equal(t, uint32(1), m.ID)
	}
	p.readEOF()
	assert.Equal(t, 0, c.Running())
}

// The memory budget refuses a call whose arguments and handler would pass
// it, as resource_exhausted and not executed, while earlier calls run; a
// call fits again once they return.
func TestBudgetRefusesCall(t *testing.T) {
	s := newSvc()
	// One call fits (its 16 KiB, the reader's 4 KiB buffer and 8 KiB for
	// its goroutine), two do not.
	budget := transport.NewBudget(32<<10, nil)
	c, p := start(t, engine.Options{Registry: s.registry(t), FerryPeer: true, Budget: budget})
	p.send(request(1, "T.Block", params(1), noExt))
	recv(t, s.entered)

	p.send(request(2, "T.Double", params(2), noExt))
	e := errorOf(t, p.read())
	assert.Equal(t, ferry.CodeResourceExhausted, e.Code)
	assert.True(t, e.NotExecuted)
	assert.Contains(t, e.Message, "memory budget")

	close(s.release)
	assert.Equal(t, uint32(1), p.read().ID)
	require.NoError(t, recv(t, s.exited))
	require.NoError(t, c.WaitHandlers(t.Context())) // its charge is released by now
	p.send(request(3, "T.Double", params(3), noExt))
	m := p.read()
	assert.Equal(t, uint32(3), m.ID)
	assert.Equal(t, 6, decode[int](t, m.Result))
}

// halfPipe is a stream whose two directions close separately, like a TCP
// connection after CloseWrite.
type halfPipe struct {
	io.Reader
	io.Writer
	closeFn func() error
}

func (h halfPipe) Close() error { return h.closeFn() }

// deadlinePipe is a halfPipe whose reads take deadlines, which it ignores.
type deadlinePipe struct{ halfPipe }

func (deadlinePipe) SetReadDeadline(time.Time) error { return nil }

// When the peer stops sending (EOF at a message boundary), calls in flight
// fail as possibly executed, running handlers finish and their replies
// still reach the peer, then the engine closes the stream.
func TestHalfClose(t *testing.T) {
	s := newSvc()
	inR, inW := io.Pipe()   // peer → engine
	outR, outW := io.Pipe() // engine → peer
	c := engine.New(halfPipe{inR, outW, func() error {
		inR.Close()
		return outW.Close()
	}}, engine.Options{Registry: s.registry(t), FerryPeer: true})
	c.Start()
	t.Cleanup(func() { c.Close() })
	rd := wire.NewReader(outR, wire.DefaultLimits)
	next := func() wire.Message {
		b, err := rd.Next()
		require.NoError(t, err)
		m, err := wire.Parse(b)
		require.NoError(t, err)
		return m
	}

	errc := make(chan error, 1)
	go func() { errc <- c.Call(t.Context(), "Peer.X", nil, nil) }()
	assert.Equal(t, wire.TypeRequest, next().Type)

	_, err := inW.Write(request(1, "T.Block", params(7), noExt))
	require.NoError(t, err)
	recv(t, s.entered)
	require.NoError(t, inW.Close()) // the half-close

	err = recv(t, errc)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	assert.False(t, ferry.NotExecuted(err), "the peer may have run it")

	close(s.release)
	m := next()
	assert.Equal(t, uint32(1), m.ID)
	assert.Equal(t, 7, decode[int](t, m.Result))
	// The stream is intact: the count of requests read comes after their
	// answers (PROTOCOL.md 4), then the end.
	m = next()
	assert.Equal(t, wire.TypeNotification, m.Type)
	assert.Equal(t, wire.MethodDrained, string(m.Method))
	assert.Equal(t, []int{1}, decode[[]int](t, m.Params))
	_, err = rd.Next()
	assert.ErrorIs(t, err, io.EOF)
	closed(t, c.Done())
}

// TestCloseDuringHalfClose: a Close while the reader waits, after the
// peer's half-close, for a handler to finish: Close cancels the handler,
// the reader sends the count and returns, and Close returns. The reader
// once took the lock a Close holds while it waits for the reader: both
// waited forever (a server's Close hung).
func TestCloseDuringHalfClose(t *testing.T) {
	s := newSvc()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	// A stream with read deadlines, as a session's: Close waits for the
	// reader to return (here it has read its last byte already: the
	// deadline has nothing to wake).
	c := engine.New(deadlinePipe{halfPipe{inR, outW, func() error {
		inR.Close()
		return outW.Close()
	}}}, engine.Options{Registry: s.registry(t), FerryPeer: true})
	c.Start()
	go func() { _, _ = io.Copy(io.Discard, outR) }()

	_, err := inW.Write(request(1, "T.Block", params(7), noExt))
	require.NoError(t, err)
	recv(t, s.entered)
	require.NoError(t, inW.Close()) // the half-close: the reader waits for T.Block

	closedc := make(chan error, 1)
	go func() { closedc <- c.Close() }()
	assert.ErrorIs(t, recv(t, s.exited), context.Canceled, "Close cancels the handler")
	require.NoError(t, recv(t, closedc), "Close returns")
	closed(t, c.Done())
}

// failWriter is a net.Conn whose writes fail once fail is set.
type failWriter struct {
	net.Conn
	fail atomic.Bool
}

var errWrite = errors.New("test: write refused")

func (f *failWriter) Write(b []byte) (int, error) {
	if f.fail.Load() {
		return 0, errWrite
	}
	return f.Conn.Write(b)
}

// A failed write ends the conn with that error; the call that could not be
// sent fails, and later calls fail as not executed.
func TestWriteError(t *testing.T) {
	a, b := net.Pipe()
	fw := &failWriter{Conn: a}
	c := engine.New(fw, engine.Options{FerryPeer: true})
	c.Start()
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	fw.fail.Store(true)
	err := c.Call(t.Context(), "Peer.X", nil, nil)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	closed(t, c.Done())
	assert.ErrorIs(t, c.Err(), errWrite)

	err = c.Call(t.Context(), "Peer.Y", nil, nil)
	assert.True(t, ferry.NotExecuted(err))
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(c.Notify(t.Context(), "Peer.Z", nil)))
}

// A frame that is not a valid message ends the conn with a clear error,
// and calls in flight fail.
func TestMalformedFrame(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"not an array", []byte{0x01}, wire.ErrNotMessage},
		{"unknown type", append(mp.AppendArrayHeader(nil, 4), 5, 1, 0xa1, 'x', 0x90), wire.ErrMalformed},
		{"too few elements", append(mp.AppendArrayHeader(nil, 2), 0, 1), wire.ErrMalformed},
		{"msgid not an int", append(mp.AppendArrayHeader(nil, 4), 0, 0xa1, 'x', 0xa1, 'm', 0x90), wire.ErrMalformed},
		{"reserved byte", []byte{0x94, 0xc1, 0, 0, 0}, wire.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := start(t, engine.Options{FerryPeer: true})
			errc := make(chan error, 1)
			go func() { errc <- c.Call(t.Context(), "Peer.X", nil, nil) }()
			p.read()
			p.send(tt.frame)
			p.readEOF()
			closed(t, c.Done())
			assert.ErrorIs(t, c.Err(), tt.want)
			err := recv(t, errc)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
		})
	}
}

// A Limiter shared with streaming handlers: Acquire takes a free slot and
// never queues.
func TestLimiterAcquire(t *testing.T) {
	lim := engine.NewLimiter(2, 0)
	assert.True(t, lim.Acquire())
	assert.True(t, lim.Acquire())
	assert.False(t, lim.Acquire())
	lim.Release()
	assert.True(t, lim.Acquire())
	assert.Equal(t, 0, lim.Queued())
}

// Client interceptors wrap Call and Notify; server interceptors wrap
// handlers and see the call's info.
func TestInterceptors(t *testing.T) {
	s := newSvc()
	var outgoing, incoming []string
	c, p := start(t, engine.Options{
		Registry: s.registry(t),
		Client: func(ctx context.Context, info *ferry.CallInfo, args, reply any, invoke ferry.Invoker) error {
			outgoing = append(outgoing, info.Method)
			return invoke(ctx, info, args, reply)
		},
		Server: func(ctx context.Context, info *ferry.CallInfo, args any, h ferry.Handler) (any, error) {
			incoming = append(incoming, info.Method)
			return h(ctx, args)
		},
	})
	require.NoError(t, c.Notify(t.Context(), "Peer.N", 1))
	assert.Equal(t, "Peer.N", string(p.read().Method))
	p.send(request(1, "T.Double", params(4), nil))
	assert.Equal(t, 8, decode[int](t, p.read().Result))
	assert.Equal(t, []string{"Peer.N"}, outgoing)
	assert.Equal(t, []string{"T.Double"}, incoming)
}

// Go completes a Pending asynchronously; any number of goroutines may
// wait on Done.
func TestGoAsync(t *testing.T) {
	c, p := start(t, engine.Options{})
	var n int
	call := c.Go(t.Context(), "Peer.Inc", 1, &n)
	m := p.read()
	p.send(response(m.ID, mp.AppendInt(nil, 2)))
	closed(t, call.Done())
	require.NoError(t, call.Err())
	assert.Equal(t, 2, n)
}
