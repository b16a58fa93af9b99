package engine_test

import (
	"context"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/engine"
	mp "github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// This file holds the scripted peer the engine tests talk to: the other
// end of a net.Pipe, writing messages built with wire.Append* and reading
// the engine's with wire.Reader, so that every test sees the engine only
// through its package API and the bytes it sends.

// ioTimeout bounds every read and write of the scripted peer, so that a
// broken engine fails a test instead of hanging it.
const ioTimeout = 10 * time.Second

// peer is the scripted side of a conversation with an engine.Conn.
type peer struct {
	t    *testing.T
	conn net.Conn
	rd   *wire.Reader
}

// msg is a wire.Message whose fields no longer alias the reader's buffer.
type msg = wire.Message

// start runs an engine.Conn with opts over one end of a net.Pipe and
// returns it with a peer on the other end. Cleanup closes both.
func start(t *testing.T, opts engine.Options) (*engine.Channel, *peer) {
	t.Helper()
	a, b := net.Pipe()
	c := engine.New(a, opts)
	c.Start()
	t.Cleanup(func() {
		b.Close()
		c.Close()
	})
	return c, newPeer(t, b)
}

func newPeer(t *testing.T, conn net.Conn) *peer {
	return &peer{t: t, conn: conn, rd: wire.NewReader(conn, wire.DefaultLimits)}
}

// send writes the concatenation of msgs in one write.
func (p *peer) send(msgs ...[]byte) {
	p.t.Helper()
	var b []byte
	for _, m := range msgs {
		b = append(b, m...)
	}
	_ = p.conn.SetWriteDeadline(time.Now().Add(ioTimeout)) // see tryRead
	_, err := p.conn.Write(b)
	require.NoError(p.t, err)
}

// read returns the next message the engine sent.
func (p *peer) read() msg {
	p.t.Helper()
	m, err := p.tryRead()
	require.NoError(p.t, err)
	return m
}

func (p *peer) tryRead() (msg, error) {
	// net.Pipe refuses deadlines once the other end closed; reads then
	// report io.EOF.
	_ = p.conn.SetReadDeadline(time.Now().Add(ioTimeout))
	b, err := p.rd.Next()
	if err != nil {
		return msg{}, err
	}
	m, err := wire.Parse(b)
	if err != nil {
		return msg{}, err
	}
	// Copy: the fields alias the reader's buffer.
	for _, f := range []*[]byte{&m.Method, &m.Params, &m.Error, &m.Result, &m.Ext} {
		if *f != nil {
			*f = append([]byte(nil), *f...)
		}
	}
	return m, nil
}

// readEOF reads until the engine closes its end, and fails on any message.
func (p *peer) readEOF() {
	p.t.Helper()
	m, err := p.tryRead()
	require.ErrorIs(p.t, err, io.EOF, "got %+v instead of the end", m)
}

// request builds [0, id, method, params] or, with ext, [0, id, method,
// params, ext].
func request(id uint32, method string, params []byte, ext []byte) []byte {
	n := 4
	if ext != nil {
		n = 5
	}
	b := mp.AppendArrayHeader(nil, n)
	b = mp.AppendUint(append(b, wire.TypeRequest), uint64(id))
	b = append(mp.AppendString(b, method), params...)
	return append(b, ext...)
}

// notification builds [2, method, params].
func notification(method string, params []byte) []byte {
	b := mp.AppendArrayHeader(nil, 3)
	b = append(mp.AppendString(append(b, wire.TypeNotification), method), params...)
	return b
}

// response builds [1, id, nil, result].
func response(id uint32, result []byte) []byte {
	b := mp.AppendArrayHeader(nil, 4)
	b = mp.AppendNil(mp.AppendUint(append(b, wire.TypeResponse), uint64(id)))
	return append(b, result...)
}

// errorResponse builds [1, id, message, nil, {"c": code}].
func errorResponse(id uint32, code ferry.Code, message string) []byte {
	b := mp.AppendArrayHeader(nil, 5)
	b = mp.AppendUint(append(b, wire.TypeResponse), uint64(id))
	b = mp.AppendNil(mp.AppendString(b, message))
	return wire.AppendResponseExt(b, wire.ResponseExt{Code: uint32(code)})
}

// params builds a positional params array of ints.
func params(vs ...int64) []byte {
	b := mp.AppendArrayHeader(nil, len(vs))
	for _, v := range vs {
		b = mp.AppendInt(b, v)
	}
	return b
}

// noExt is an empty extension map: the request comes from a Ferry peer.
var noExt = wire.AppendRequestExt(nil, wire.RequestExt{})

// decode decodes a msgpack value the engine sent.
func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, msgpack.Unmarshal(b, &v))
	return v
}

// reqParams decodes the params of a request or notification the engine
// sent, which always carry its argument as a one-element array.
func reqParams[T any](t *testing.T, m msg) T {
	t.Helper()
	vs := decode[[]T](t, m.Params)
	require.Len(t, vs, 1)
	return vs[0]
}

// respError is the error of a response as the peer reads it.
type respError struct {
	Message     string
	Code        ferry.Code
	NotExecuted bool
}

func errorOf(t *testing.T, m msg) respError {
	t.Helper()
	require.Equal(t, wire.TypeResponse, m.Type)
	require.NotNil(t, m.Error, "the response carries no error")
	e := respError{Message: decode[string](t, m.Error)}
	if m.Ext != nil {
		x, err := wire.ParseResponseExt(m.Ext)
		require.NoError(t, err)
		e.Code, e.NotExecuted = ferry.Code(x.Code), x.NotExecuted
	}
	return e
}

// svc is the set of handlers the engine serves in these tests.
type svc struct {
	release  chan struct{} // closed to let T.Block and T.Hold return
	entered  chan struct{} // T.Block and T.Hold send on it when they start
	exited   chan error    // T.Block sends its context's error (nil when released)
	notes    chan int      // T.Note sends its argument
	identity chan any      // T.Whoami sends the identity it sees
	mu       sync.Mutex
	md       ferry.Metadata // the incoming metadata T.Double saw last
}

func newSvc() *svc {
	return &svc{
		release:  make(chan struct{}),
		entered:  make(chan struct{}, 16),
		exited:   make(chan error, 16),
		notes:    make(chan int, 16),
		identity: make(chan any, 1),
	}
}

func (s *svc) registry(t *testing.T) *registry.Registry {
	t.Helper()
	r := registry.New()
	require.NoError(t, r.Add(
		registry.Typed("T.Double", func(ctx context.Context, n *int) (*int, error) {
			s.mu.Lock()
			s.md = ferry.IncomingMetadata(ctx)
			s.mu.Unlock()
			v := *n * 2
			return &v, nil
		}),
		registry.Typed("T.Fail", func(context.Context, *int) (*int, error) {
			return nil, ferry.NewError(ferry.CodeNotFound, "no such thing").WithDetail("k", "v")
		}),
		registry.Typed("T.Panic", func(context.Context, *int) (*int, error) {
			panic("boom")
		}),
		registry.Typed("T.Block", func(ctx context.Context, n *int) (*int, error) {
			s.entered <- struct{}{}
			select {
			case <-s.release:
				s.exited <- nil
				return n, nil
			case <-ctx.Done():
				s.exited <- ctx.Err()
				return nil, ctx.Err()
			}
		}),
		registry.Typed("T.Hold", func(_ context.Context, n *int) (*int, error) {
			s.entered <- struct{}{}
			<-s.release
			return n, nil
		}),
		registry.Typed("T.Note", func(_ context.Context, n *int) (*int, error) {
			s.notes <- *n
			return nil, nil
		}),
		registry.Typed("T.Whoami", func(ctx context.Context, _ *int) (*string, error) {
			s.identity <- ferry.IdentityFromContext(ctx)
			return nil, nil
		}),
	))
	return r
}

// recv waits for a value on ch, bounded by ioTimeout.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(ioTimeout):
		t.Fatalf("nothing arrived within %v", ioTimeout)
		panic("unreachable")
	}
}

// closed waits for ch to close, bounded by ioTimeout.
func closed(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(ioTimeout):
		t.Fatalf("not closed within %v", ioTimeout)
	}
}
