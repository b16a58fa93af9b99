package server_test

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// fuzzInputBudget bounds one input, race detector included: serving,
// closing and every goroutine exiting.
const fuzzInputBudget = 10 * time.Second

// After writing an input, the harness waits for replies while they keep
// coming (a gap of fuzzQuiet ends the wait), for at most fuzzLinger.
const (
	fuzzQuiet  = 5 * time.Millisecond
	fuzzLinger = 200 * time.Millisecond
)

// fuzzServer returns a server with the test services, a bidi echo stream
// method and small limits, so the fuzzer reaches the limits quickly.
func fuzzServer(t *testing.T) *server.Server {
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 64 << 10
	cfg.MaxDepth = 16
	cfg.WriteTimeout = time.Second
	cfg.StreamCloseTimeout = time.Second
	cfg.SniffTimeout = time.Second
	s := server.New(server.WithConfig(cfg), server.WithMaxConcurrentCalls(8))
	require.NoError(t, s.Register(testsvc.Arith{}))
	require.NoError(t, s.Register(testsvc.Echo{}))
	require.NoError(t, server.HandleBidi(s, "Stream.Echo",
		func(ctx context.Context, st *server.BidiStream[codec.Raw, codec.Raw]) error {
			for {
				m, err := st.Recv()
				if err == io.EOF {
					return nil
				}
				if err != nil {
					return err
				}
				if err := st.Send(m); err != nil {
					return err
				}
			}
		}))
	return s
}

// fuzzSeeds are bare MessagePack-RPC streams and raw yamux sessions; the
// same inputs (and more) are committed under testdata/fuzz/FuzzServer.
func fuzzSeeds() [][]byte {
	add := bareRequest(1, "Arith.Add", []byte{0x91, 0x82, 0xa1, 'A', 0x01, 0xa1, 'B', 0x02})
	echo := bareRequest(2, "Echo.Echo", []byte{0x91, 0x93, 0xc4, 0x01, 0xff, 0xa1, 'a', 0x81, 0x01, 0xc0})
	notify := msgpack.AppendArrayHeader(nil, 3)
	notify = append(msgpack.AppendString(append(notify, 2), "Echo.Sleep"), 0x91, 0xcd, 0x27, 0x10)
	open := append([]byte{0xc1}, msgpack.AppendArrayHeader(nil, 5)...)
	open = append(msgpack.AppendString(append(open, 0, 0), "Stream.Echo"), 0x90, 0x80)
	streamData := []byte{0x92, 0x03, 0xa2, 'h', 'i', 0x91, 0x04}
	return [][]byte{
		add, echo, cat(add, notify, echo),
		bareRequest(3, "Echo.Sleep", []byte{0x91, 0xcd, 0x27, 0x10}),
		bareRequest(4, "Echo.Panic", []byte{0x90}),
		bareRequest(5, "Nope.Nope", []byte{0x90}),
		bareRequest(6, "Echo.Echo", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}),
		bareRequest(7, "Echo.Echo", []byte{0x91, 0xc6, 0xff, 0xff, 0xff, 0xff}),
		bareRequest(8, "Echo.Echo", rep([]byte{0x91}, 5000)),
		cat(bareRequest(9, "$ferry.hello", []byte{0x91, 0x82, 0xa5, 'd', 'e', 'p', 't', 'h', 0x04, 0xa3, 'm', 'a', 'x', 0xcd, 0x04, 0x00}),
			bareRequest(10, "Echo.Echo", []byte{0x91, 0x91, 0x91, 0x91, 0x01})),
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		cat(yamuxFrame(1, 1, 1, nil), yamuxFrame(0, 0, 1, add), yamuxFrame(0, 4, 1, echo)),
		cat(yamuxFrame(1, 1, 1, nil), yamuxFrame(0, 0, 1, open), yamuxFrame(0, 4, 1, streamData)),
		cat(yamuxFrame(1, 1, 3, nil), yamuxFrame(0, 0, 3, bareRequest(1, "Echo.Echo", []byte{0xdd, 0xff, 0xff, 0xff, 0xff}))),
		cat(yamuxFrame(2, 1, 0, nil), yamuxFrame(3, 0, 0, nil)),
	}
}

// yamuxFrame builds a yamux frame: version 0, type, flags, stream id, and
// the body's length (or 0 for frames without a body).
func yamuxFrame(typ byte, flags uint16, id uint32, body []byte) []byte {
	b := []byte{0, typ, byte(flags >> 8), byte(flags), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
	n := uint32(len(body))
	return append(append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n)), body...)
}

// FuzzServer feeds the input to a whole server as a bare client over an
// in-memory pipe, reading replies concurrently, then closes everything. The
// server must not panic, must keep reading (or close), must shut down
// within the budget and must leave no goroutine behind. Replies on a bare
// MessagePack-RPC connection must be well-formed responses.
func FuzzServer(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ignore := goleak.IgnoreCurrent()
		s := fuzzServer(t)
		cli, srv := net.Pipe()
		served := make(chan error, 1)
		go func() { served <- s.ServeConn(srv) }()
		drained := make(chan error, 1)
		activity := make(chan struct{}, 1)
		bare := len(data) > 0 && msgpack.IsArrayHeader(data[0])
		go func() { drained <- fuzzDrain(cli, bare, activity) }()

		_ = cli.SetWriteDeadline(time.Now().Add(fuzzInputBudget))
		_, werr := cli.Write(data)
		var ne net.Error
		if errors.As(werr, &ne) && ne.Timeout() {
			t.Errorf("the server stopped reading without closing the connection")
		}
		// Let the server answer what it read: wait while replies keep
		// coming, until it closes, or for at most fuzzLinger.
		derr, closed := lingerForReplies(activity, drained)
		cli.Close()

		finished := make(chan error, 1)
		go func() {
			// Close first: after the client's EOF, a bare connection lets
			// running handlers (a fuzzed Echo.Sleep) finish for a grace
			// period; Close cancels them.
			cerr := s.Close()
			serr := <-served
			if !closed {
				derr = <-drained
			}
			finished <- errors.Join(serr, cerr, derr)
		}()
		timer := time.NewTimer(fuzzInputBudget)
		defer timer.Stop()
		select {
		case err := <-finished:
			require.NoError(t, err)
		case <-timer.C:
			buf := make([]byte, 1<<20)
			t.Fatalf("the server did not finish within %v; goroutines:\n%s", fuzzInputBudget, buf[:runtime.Stack(buf, true)])
		}
		goleak.VerifyNone(t, ignore)
	})
}

// lingerForReplies returns once no reply has arrived for fuzzQuiet, or
// fuzzLinger has passed, or the server closed the connection; closed
// reports the last case, with what fuzzDrain returned.
func lingerForReplies(activity <-chan struct{}, drained <-chan error) (err error, closed bool) {
	quiet := time.NewTimer(fuzzQuiet)
	defer quiet.Stop()
	limit := time.NewTimer(fuzzLinger)
	defer limit.Stop()
	for {
		select {
		case <-activity:
			quiet.Reset(fuzzQuiet)
		case err := <-drained:
			return err, true
		case <-quiet.C:
			return nil, false
		case <-limit.C:
			return nil, false
		}
	}
}

// fuzzDrain reads replies until the pipe closes, signalling activity for
// each. On bare MessagePack-RPC each reply must be a whole response.
func fuzzDrain(c net.Conn, bare bool, activity chan<- struct{}) error {
	signal := func() {
		select {
		case activity <- struct{}{}:
		default:
		}
	}
	if !bare {
		buf := make([]byte, 32<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				return nil
			}
			signal()
		}
	}
	rd := wire.NewReader(c, wire.Limits{MaxMessage: 64 << 20, MaxDepth: 1000})
	for {
		b, err := rd.Next()
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
			_, _ = io.Copy(io.Discard, c)
			return nil
		default:
			return errors.New("ferry: the server sent a malformed reply: " + err.Error())
		}
		m, err := wire.Parse(b)
		if err != nil {
			return errors.New("ferry: the server sent an unparsable reply: " + err.Error())
		}
		if m.Type != wire.TypeResponse {
			return errors.New("ferry: the server sent a message that is not a response to a bare client")
		}
		signal()
	}
}
