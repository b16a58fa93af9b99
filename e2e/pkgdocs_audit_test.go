package e2e_test

// An audit of the core packages' documentation (go doc -all of ferry,
// server, client, codec and transport) as an outside tester reads it:
// each test quotes the sentences it checks, end to end over loopback TCP.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"log/slog"
	"math"
	"reflect"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// auditNums is a handler's arguments with one field of each numeric kind.
type auditNums struct {
	I   int64
	U   uint8
	F   float64
	F32 float32
}

// auditListen starts a server with opts, registers register's methods and
// serves it on a loopback port, returning its address; it closes at
// cleanup.
func auditListen(t *testing.T, register func(s *server.Server), opts ...server.Option) (*server.Server, string) {
	t.Helper()
	s := server.New(opts...)
	register(s)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return s, l.Addr().String()
}

// auditServer is auditListen with a client dialed to the server, closed at
// cleanup.
func auditServer(t *testing.T, register func(s *server.Server), opts ...server.Option) (*server.Server, *client.Client) {
	t.Helper()
	s, addr := auditListen(t, register, opts...)
	c, err := client.Dial(t.Context(), addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return s, c
}

// TestAuditCanceledContext checks Caller.Call: "errors.Is(err,
// context.Canceled) hold[s] when ctx ended the call", and NotExecuted: a
// call "never written to any connection" is in the not-executed class, for
// Call, Go and Notify given a context already canceled; no handler runs.
func TestAuditCanceledContext(t *testing.T) {
	var ran atomic.Int32
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Count", func(ctx context.Context, _ *struct{}) (*int, error) {
			ran.Add(1)
			n := 1
			return &n, nil
		}))
	})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	var n int
	err := c.Call(ctx, "A.Count", nil, &n)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "never written: %v", err)
	var fe *ferry.Error
	assert.ErrorAs(t, err, &fe, "every error a call returns is an *Error")

	call := c.Go(ctx, "A.Count", nil, &n)
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Go with a canceled ctx never completed")
	}
	assert.ErrorIs(t, call.Err(), context.Canceled)
	assert.True(t, ferry.NotExecuted(call.Err()))

	err = c.Notify(ctx, "A.Count", nil)
	assert.ErrorIs(t, err, context.Canceled, "Notify with a canceled ctx")

	// A call with a live context still works, and the handler never ran
	// for the three above.
	require.NoError(t, c.Call(t.Context(), "A.Count", nil, &n))
	assert.Equal(t, 1, n)
	assert.Equal(t, int32(1), ran.Load())
}

// TestAuditCallsAfterClose checks ErrClosed: "wrapped by the error of
// every call that fails because this side closed its client", for Call,
// Go and Notify after Close; Conn.Done "is closed when the connection
// ends, by Close"; Err "returns why the connection ended, or nil while it
// is open"; such calls were never written (NotExecuted). Close twice does
// not panic.
func TestAuditCallsAfterClose(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.One", func(ctx context.Context, _ *struct{}) (*int, error) {
			n := 1
			return &n, nil
		}))
	})
	assert.NoError(t, c.Err(), "nil while open")
	select {
	case <-c.Done():
		t.Fatal("Done closed while open")
	default:
	}
	require.NoError(t, c.Close())
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	assert.Error(t, c.Err())

	var n int
	err := c.Call(t.Context(), "A.One", nil, &n)
	assert.ErrorIs(t, err, ferry.ErrClosed)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	call := c.Go(t.Context(), "A.One", nil, &n)
	<-call.Done()
	assert.ErrorIs(t, call.Err(), ferry.ErrClosed)
	assert.ErrorIs(t, c.Notify(t.Context(), "A.One", nil), ferry.ErrClosed)
	_, err = c.NewStream(t.Context(), "A.One")
	assert.ErrorIs(t, err, ferry.ErrClosed, "a stream is a call too")
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.NotPanics(t, func() { _ = c.Close() })
}

// TestAuditNewOwnsConn checks client.New: "The client owns conn and
// closes it on Close."
func TestAuditNewOwnsConn(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	nc, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	c, err := client.New(nc)
	require.NoError(t, err)
	require.NoError(t, c.Close())
	_, err = nc.Write([]byte{0})
	assert.ErrorIs(t, err, net.ErrClosed, "conn closed by Close")
}

// TestAuditHandlerResults checks Error's doc: "A handler's *Error reaches
// the caller with its code, message and details intact; any other handler
// error arrives as CodeUnknown carrying its message"; Details is "nil when
// none"; CodeInternal is what "a handler panicked, a reply failed to
// encode" get; and errors.Is(err, context.DeadlineExceeded) "holds for a
// deadline that passed on either side".
func TestAuditHandlerResults(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "H.Detailed", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, ferry.NewError(ferry.CodeNotFound, "no such item").WithDetail("item", "7")
		}))
		require.NoError(t, server.Handle(s, "H.Bare", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, ferry.NewError(ferry.CodeAborted, "conflict")
		}))
		require.NoError(t, server.Handle(s, "H.Plain", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, errors.New("disk full")
		}))
		require.NoError(t, server.Handle(s, "H.Panic", func(ctx context.Context, _ *struct{}) (*int, error) {
			panic("boom")
		}))
		require.NoError(t, server.Handle(s, "H.BadReply", func(ctx context.Context, _ *struct{}) (*chan int, error) {
			ch := make(chan int)
			return &ch, nil
		}))
		require.NoError(t, server.Handle(s, "H.ServerDeadline", func(ctx context.Context, _ *struct{}) (*int, error) {
			inner, cancel := context.WithTimeout(ctx, time.Millisecond)
			defer cancel()
			<-inner.Done()
			return nil, inner.Err()
		}))
		require.NoError(t, server.Handle(s, "H.NilReply", func(ctx context.Context, _ *struct{}) (*int, error) {
			return nil, nil
		}))
	})
	ctx := t.Context()

	err := c.Call(ctx, "H.Detailed", nil, nil)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeNotFound, fe.Code)
	assert.Equal(t, "no such item", fe.Message)
	assert.Equal(t, map[string]string{"item": "7"}, fe.Details)
	assert.False(t, ferry.NotExecuted(err), "the handler ran")

	err = c.Call(ctx, "H.Bare", nil, nil)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeAborted, fe.Code)
	assert.Nil(t, fe.Details, "Details: nil when none")

	err = c.Call(ctx, "H.Plain", nil, nil)
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeUnknown, fe.Code)
	assert.Contains(t, fe.Message, "disk full")

	err = c.Call(ctx, "H.Panic", nil, nil)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err), "a handler that panicked ran")

	err = c.Call(ctx, "H.BadReply", nil, nil)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)

	err = c.Call(ctx, "H.ServerDeadline", nil, nil)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "%v", err)
	assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err))

	n := 5
	require.NoError(t, c.Call(ctx, "H.NilReply", nil, &n), "a nil *Resp is msgpack nil")
	assert.Equal(t, 0, n, "nil leaves the zero value")

	// The connection still serves after all of these.
	require.NoError(t, c.Call(ctx, "H.NilReply", nil, nil))
}

// TestAuditCallArgumentShapes checks that Call "never panics" on odd
// arguments: a reply that is not a pointer and arguments that cannot be
// encoded are errors (Go "never panics"), reply nil discards the result.
func TestAuditCallArgumentShapes(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Seven", func(ctx context.Context, _ *struct{}) (*int, error) {
			n := 7
			return &n, nil
		}))
	})
	ctx := t.Context()
	require.NoError(t, c.Call(ctx, "A.Seven", nil, nil), "reply nil discards the result")

	var n int
	assert.NotPanics(t, func() {
		err := c.Call(ctx, "A.Seven", nil, n)
		assert.Error(t, err, "a reply that is not a pointer")
	})
	assert.NotPanics(t, func() {
		call := c.Go(ctx, "A.Seven", make(chan int), &n)
		<-call.Done()
		assert.Error(t, call.Err(), "arguments that cannot be encoded")
		assert.True(t, ferry.NotExecuted(call.Err()), "never sent: %v", call.Err())
	})
	assert.NotPanics(t, func() {
		assert.Error(t, c.Notify(ctx, "A.Seven", make(chan int)))
	})
	require.NoError(t, c.Call(ctx, "A.Seven", nil, &n))
	assert.Equal(t, 7, n)
}

// TestAuditCallHandle checks ferry.Call: "Err returns the call's error
// once Done is closed (nil on success, and nil before); Wait blocks until
// the call completes and returns its error", with "any number of
// goroutines" waiting on Done.
func TestAuditCallHandle(t *testing.T) {
	release := make(chan struct{})
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Wait", func(ctx context.Context, _ *struct{}) (*int, error) {
			<-release
			return nil, ferry.NewError(ferry.CodeAborted, "done")
		}))
	})
	call := c.Go(t.Context(), "A.Wait", nil, nil)
	assert.NoError(t, call.Err(), "nil before Done")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { <-call.Done() })
	}
	close(release)
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(call.Wait()))
	wg.Wait()
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(call.Err()))
	assert.Equal(t, "A.Wait", call.Method)
}

// TestAuditServeAfterClose checks Serve: it "returns ErrServerClosed
// [after Shutdown or Close] ... l is closed when Serve returns, even when
// the server was already shut down".
func TestAuditServeAfterClose(t *testing.T) {
	for _, stop := range []string{"close", "shutdown"} {
		t.Run(stop, func(t *testing.T) {
			s := server.New()
			if stop == "close" {
				require.NoError(t, s.Close())
			} else {
				require.NoError(t, s.Shutdown(t.Context()))
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			assert.ErrorIs(t, s.Serve(l), server.ErrServerClosed)
			_ = l.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second)) // an error once closed
			_, err = l.Accept()
			assert.ErrorIs(t, err, net.ErrClosed, "l is closed")

			// A server stopped while serving returns ErrServerClosed too.
			s2 := server.New()
			l2, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- s2.Serve(l2) }()
			require.Eventually(t, func() bool { return dialable(l2.Addr().String()) }, 5*time.Second, 5*time.Millisecond)
			if stop == "close" {
				require.NoError(t, s2.Close())
			} else {
				require.NoError(t, s2.Shutdown(t.Context()))
			}
			select {
			case err := <-done:
				assert.ErrorIs(t, err, server.ErrServerClosed)
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
		})
	}
}

// dialable reports whether addr accepts a TCP connection now.
func dialable(addr string) bool {
	nc, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	nc.Close()
	return true
}

// TestAuditServeConnInvalidOption checks New: "An invalid option is
// reported by Serve and ServeConn."
func TestAuditServeConnInvalidOption(t *testing.T) {
	s := server.New(server.WithMaxConcurrentCalls(0))
	t.Cleanup(func() { s.Close() })
	a, b := net.Pipe()
	defer b.Close()
	err := s.ServeConn(a)
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "ferry: "), err.Error())
	assert.NotErrorIs(t, err, server.ErrServerClosed)
}

// TestAuditMethodTable checks Methods: "lists the registered methods,
// sorted by name" with Kind "unary" or the stream kind and the message
// types; "a name may be registered once, as one kind" across Handle,
// Register and HandleStream.
func TestAuditMethodTable(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	require.NoError(t, server.Handle(s, "Z.Last", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }))
	require.NoError(t, server.HandleServerStream(s, "A.First", func(ctx context.Context, req *string, send func(*int) error) error { return nil }))
	require.NoError(t, s.RegisterName("M", auditRcvr{}))

	assert.Error(t, server.Handle(s, "Z.Last", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }), "twice")
	assert.Error(t, s.HandleStream("Z.Last", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }), "as another kind")
	assert.Error(t, server.Handle(s, "A.First", func(ctx context.Context, a *string) (*int, error) { return nil, nil }), "a stream's name")
	assert.Error(t, s.RegisterName("M", auditRcvr{}), "a receiver twice")

	ms := s.Methods()
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	assert.Equal(t, []string{"A.First", "M.Do", "Z.Last"}, names)
	assert.Equal(t, "server", ms[0].Kind)
	assert.Equal(t, "string", ms[0].Args.String())
	assert.Equal(t, "int", ms[0].Reply.String())
	assert.Equal(t, "unary", ms[1].Kind)
	assert.Equal(t, "unary", ms[2].Kind)
	assert.Equal(t, "e2e_test.auditNums", ms[2].Args.String())
}

// auditRcvr is a net/rpc-style receiver with one method.
type auditRcvr struct{}

// Do doubles its argument.
func (auditRcvr) Do(n int, reply *int) error { *reply = 2 * n; return nil }

// TestAuditNumbersNeverGuessed checks server's and codec's docs on
// arguments: "Numbers convert only when exact: 4.0 fits an int, 3.5 does
// not; a negative never fits an unsigned type; a string never fits a
// number", "an integer a float holds exactly" (and no other), a float
// into a float32 "rounded to the nearest float32 (refused past its
// range)", refused "as
// CodeInvalidArgument ... and the handler does not run"; "more [positional
// params than fields] is refused".
func TestAuditNumbersNeverGuessed(t *testing.T) {
	var got []auditNums
	var mu sync.Mutex
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "N.Take", func(ctx context.Context, a *auditNums) (*int, error) {
			mu.Lock()
			got = append(got, *a)
			mu.Unlock()
			n := 0
			return &n, nil
		}))
	})
	ctx := t.Context()
	ok := []map[string]any{
		{"I": 4.0},
		{"I": float32(-8)},
		{"U": 255},
		{"U": 3.0},
		{"F": int64(1 << 53)},
		{"F32": int64(1 << 24)},
		{"F": float32(0.5)},
		{"F32": 0.1},
	}
	for _, args := range ok {
		assert.NoError(t, c.Call(ctx, "N.Take", args, nil), "%v", args)
	}
	bad := []map[string]any{
		{"I": 3.5},
		{"I": float32(0.25)},
		{"I": math.Inf(1)},
		{"I": math.NaN()},
		{"I": 1e19},
		{"I": uint64(math.MaxUint64)},
		{"I": "12"},
		{"I": true},
		{"U": 256},
		{"U": -1},
		{"U": 1.5},
		{"F": int64(1<<53 + 1)},
		{"F32": int64(1<<24 + 1)},
		{"F32": math.MaxFloat64},
		{"F": "1.5"},
	}
	for _, args := range bad {
		err := c.Call(ctx, "N.Take", args, nil)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v: %v", args, err)
	}
	err := c.Call(ctx, "N.Take", client.Params{1, 2, 3, 4, 5}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "more params than fields: %v", err)
	err = c.Call(ctx, "N.Take", client.Params{3.5}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%v", err)
	assert.Contains(t, err.Error(), "3.5")

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, len(ok), "the handler never ran for a refused call")
	assert.Equal(t, int64(4), got[0].I)
	assert.Equal(t, int64(-8), got[1].I)
	assert.Equal(t, uint8(255), got[2].U)
	assert.Equal(t, uint8(3), got[3].U)
	assert.Equal(t, float64(1<<53), got[4].F)
	assert.Equal(t, float32(1<<24), got[5].F32)
	assert.Equal(t, 0.5, got[6].F)
	assert.Equal(t, float32(0.1), got[7].F32, "a float into a float32 is rounded")
}

// TestAuditCodecExactness checks codec's rules with Unmarshal directly:
// "an integer a float holds exactly" into a float, and no other, while "a float
// into a float32 is rounded to the nearest float32 (refused past its
// range)"; a struct
// takes "an array of its fields in order, no longer than the struct";
// strings "never [share memory] with the input"; "An extension value
// where a map is expected is an error".
func TestAuditCodecExactness(t *testing.T) {
	enc := func(v any) []byte {
		b, err := codec.Marshal(v)
		require.NoError(t, err)
		return b
	}
	var f64 float64
	assert.ErrorIs(t, codec.Unmarshal(enc(int64(1<<53+1)), &f64), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(enc(uint64(math.MaxUint64)), &f64), codec.ErrDecode)
	require.NoError(t, codec.Unmarshal(enc(int64(-1<<53)), &f64))
	assert.Equal(t, float64(-1<<53), f64)
	var f32 float32
	assert.ErrorIs(t, codec.Unmarshal(enc(int64(1<<24+1)), &f32), codec.ErrDecode)
	require.NoError(t, codec.Unmarshal(enc(0.1), &f32), "a float into a float32 is rounded")
	assert.Equal(t, float32(0.1), f32)
	assert.ErrorIs(t, codec.Unmarshal(enc(1e39), &f32), codec.ErrDecode, "past float32's range")
	var i int64
	assert.ErrorIs(t, codec.Unmarshal(enc(math.NaN()), &i), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(enc(9.3e18), &i), codec.ErrDecode, "past MaxInt64")
	assert.ErrorIs(t, codec.Unmarshal(enc(uint64(math.MaxUint64)), &i), codec.ErrDecode)
	assert.ErrorIs(t, codec.Unmarshal(enc(true), &i), codec.ErrDecode)
	var s string
	assert.ErrorIs(t, codec.Unmarshal(enc(5), &s), codec.ErrDecode, "a number is not a string")

	var n auditNums
	require.NoError(t, codec.Unmarshal(enc([]any{1, 2}), &n))
	assert.Equal(t, auditNums{I: 1, U: 2}, n)
	assert.ErrorIs(t, codec.Unmarshal(enc([]any{1, 2, 3, 4, 5}), &n), codec.ErrDecode, "longer than the struct")

	in := enc(map[string]string{"k": "value-that-is-kept"})
	var m map[string]string
	require.NoError(t, codec.Unmarshal(in, &m))
	for j := range in {
		in[j] = 'x'
	}
	assert.Equal(t, map[string]string{"k": "value-that-is-kept"}, m, "strings never share the input")

	ext := []byte{0xd4, 0x05, 0x00} // fixext1, type 5
	assert.Error(t, codec.Unmarshal(ext, &m), "an extension where a map is expected")
	var st struct{ A int }
	assert.Error(t, codec.Unmarshal(ext, &st), "an extension where a struct's map is expected")
	var raw codec.Raw
	require.NoError(t, codec.Unmarshal(ext, &raw))
	assert.Equal(t, ext, []byte(raw))
}

// TestAuditWithRefused checks WithRefused: fn is called "for every call
// refused before a handler ran", with "method ... the registered method's
// name, or "" for a name that is not registered", "err is the error sent
// back (notifications get none, but are reported too)", and "Interceptors
// never see these calls".
func TestAuditWithRefused(t *testing.T) {
	type refusal struct {
		method string
		code   ferry.Code
	}
	refused := make(chan refusal, 16)
	var seen atomic.Int32
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "N.Take", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }))
	},
		server.WithRefused(func(method string, err *ferry.Error) {
			refused <- refusal{method, err.Code}
		}),
		server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			seen.Add(1)
			return next(ctx, args)
		}))
	ctx := t.Context()
	next := func() refusal {
		select {
		case r := <-refused:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no refusal reported")
			return refusal{}
		}
	}

	err := c.Call(ctx, "No.Such", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.Equal(t, refusal{"", ferry.CodeUnimplemented}, next())

	err = c.Call(ctx, "N.Take", map[string]any{"I": 3.5}, nil)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err))
	assert.Equal(t, refusal{"N.Take", ferry.CodeInvalidArgument}, next())

	require.NoError(t, c.Notify(ctx, "N.Take", map[string]any{"U": -1}))
	assert.Equal(t, refusal{"N.Take", ferry.CodeInvalidArgument}, next(), "notifications are reported too")

	require.NoError(t, c.Call(ctx, "N.Take", map[string]any{"I": 1}, nil))
	assert.Equal(t, int32(1), seen.Load(), "interceptors never see refused calls")
	assert.Empty(t, refused)

	// Streams too: one for a name not registered, one opened for a unary
	// method.
	for _, name := range []string{"No.Such", "N.Take"} {
		st, err := c.NewStream(ctx, name)
		require.NoError(t, err)
		var v any
		err = st.Recv(&v)
		assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%s: %v", name, err)
		want := ""
		if name == "N.Take" {
			want = name
		}
		assert.Equal(t, refusal{want, ferry.CodeUnimplemented}, next(), "stream %s", name)
		st.Close()
	}
}

// TestAuditWithRefusedLimit checks WithRefused for a call refused "over a
// ... concurrency limit" (CodeResourceExhausted), with the method's name.
func TestAuditWithRefusedLimit(t *testing.T) {
	refused := make(chan string, 16)
	release := make(chan struct{})
	started := make(chan struct{}, 4)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Hold", func(ctx context.Context, _ *struct{}) (*int, error) {
			started <- struct{}{}
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}))
	}, server.WithMaxConcurrentCalls(1), server.WithRefused(func(method string, err *ferry.Error) {
		refused <- method + " " + err.Code.String()
	}))
	first := c.Go(t.Context(), "A.Hold", nil, nil)
	<-started
	queued := c.Go(t.Context(), "A.Hold", nil, nil) // waits for the slot: the queue holds 1
	// Sent after the queued one on the same connection, so read after it.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	err := c.Call(ctx, "A.Hold", nil, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	select {
	case got := <-refused:
		assert.Equal(t, "A.Hold resource_exhausted", got)
	case <-time.After(5 * time.Second):
		t.Fatal("no refusal reported")
	}
	close(release)
	require.NoError(t, first.Wait())
	require.NoError(t, queued.Wait())
}

// TestAuditUnimplementedNotExecuted checks client.WithHandlers' sentence
// that calls to a method not registered "fail as unimplemented, not
// executed" (CodeUnimplemented with NotExecuted true), in both directions,
// and that arguments refused before the handler ran are CodeInvalidArgument.
func TestAuditUnimplementedNotExecuted(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	err := c.Call(t.Context(), "No.Such", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "%v", err)

	require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
	p := <-peers
	err = p.Call(t.Context(), "Client.Nothing", nil, nil)
	assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "%v", err)
}

// TestAuditPeer checks Peer's docs: PeerFromContext "returns ... nil
// outside a handler"; ID is "unique to this peer"; RemoteAddr is the
// client's address; Identity is "nil without authentication"; Err is "nil
// while it is open"; Done "is closed when the connection to the client
// ends", and Err then says why.
func TestAuditPeer(t *testing.T) {
	assert.Nil(t, server.PeerFromContext(context.Background()))
	assert.Nil(t, client.ConnFromContext(context.Background()))
	peers := make(chan *server.Peer, 2)
	s := server.New()
	require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
		peers <- server.PeerFromContext(ctx)
		return nil, nil
	}))
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()

	var locals []string
	var ps []*server.Peer
	for range 2 {
		nc, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		locals = append(locals, nc.LocalAddr().String())
		c, err := client.New(nc)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
		ps = append(ps, <-peers)
		require.NotNil(t, ps[len(ps)-1])
		if len(ps) == 1 {
			require.NoError(t, c.Close())
		}
	}
	assert.NotEqual(t, ps[0].ID(), ps[1].ID())
	assert.Equal(t, locals[0], ps[0].RemoteAddr().String())
	assert.Equal(t, locals[1], ps[1].RemoteAddr().String())
	assert.Nil(t, ps[1].Identity())
	assert.NoError(t, ps[1].Err())
	select {
	case <-ps[0].Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the client closed")
	}
	assert.Error(t, ps[0].Err())
}

// TestAuditConns checks ConnInfo: Protocol is "session" (Ferry) or
// "msgpack-rpc" (bare), Since "when it was accepted", RemoteAddr the
// client's address.
func TestAuditConns(t *testing.T) {
	s := server.New()
	require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	before := time.Now()
	want := map[string]string{}
	for _, plain := range []bool{false, true} {
		nc, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		var opts []client.Option
		proto := "session"
		if plain {
			opts = append(opts, client.WithPlainMsgpackRPC())
			proto = "msgpack-rpc"
		}
		want[nc.LocalAddr().String()] = proto
		c, err := client.New(nc, opts...)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	}
	got := map[string]string{}
	for _, ci := range s.Conns() {
		got[ci.RemoteAddr.String()] = ci.Protocol
		assert.False(t, ci.Since.Before(before.Add(-time.Second)), "Since")
		assert.False(t, ci.Since.After(time.Now()))
	}
	assert.Equal(t, want, got)
}

// TestAuditDialContext checks Dial: "ctx bounds the dial and the session
// handshake", against a listener that accepts and never answers.
func TestAuditDialContext(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	held := make(chan net.Conn, 1)
	go func() {
		nc, err := l.Accept()
		if err == nil {
			held <- nc
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	c, err := client.Dial(ctx, l.Addr().String())
	elapsed := time.Since(start)
	require.Error(t, err)
	assert.Nil(t, c)
	assert.Less(t, elapsed, 3*time.Second, "ctx bounds the handshake")
	select {
	case nc := <-held:
		nc.Close()
	default:
	}
}

// TestAuditWithHandlersOrderAndError checks WithHandlers: "An error from
// register fails Dial, and the connection is closed. Several WithHandlers
// run in order."
func TestAuditWithHandlersOrderAndError(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()

	var order []int
	reg := func(i int) client.Option {
		return client.WithHandlers(func(c *client.Client) error { order = append(order, i); return nil })
	}
	c, err := client.Dial(t.Context(), l.Addr().String(), reg(1), reg(2), reg(3))
	require.NoError(t, err)
	c.Close()
	assert.Equal(t, []int{1, 2, 3}, order)

	boom := errors.New("cannot register")
	c, err = client.Dial(t.Context(), l.Addr().String(), client.WithHandlers(func(*client.Client) error { return boom }))
	require.Error(t, err)
	assert.Nil(t, c)
	assert.ErrorIs(t, err, boom)
	require.Eventually(t, func() bool { return len(s.Conns()) == 0 }, 5*time.Second, 5*time.Millisecond,
		"the connection is closed")
}

// TestAuditCallInfo checks CallInfo: Notify is "true for a one-way
// notification"; Received is set on the serving side and "zero on the
// calling side"; MarkNotExecuted's flag "crosses the wire" when a server
// interceptor refuses a call it did not run.
func TestAuditCallInfo(t *testing.T) {
	infos := make(chan ferry.CallInfo, 4)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
		require.NoError(t, server.Handle(s, "A.Limited", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	}, server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "A.Limited" {
			return nil, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeResourceExhausted, "rate limited"))
		}
		infos <- *info
		return next(ctx, args)
	}))
	calling := make(chan ferry.CallInfo, 1)
	c, err := client.Dial(t.Context(), addr, client.WithInterceptors(
		func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			if !info.Notify {
				calling <- *info
			}
			return next(ctx, info, args, reply)
		}))
	require.NoError(t, err)
	defer c.Close()
	before := time.Now()
	require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	ci := <-infos
	assert.Equal(t, "A.Nop", ci.Method)
	assert.False(t, ci.Notify)
	assert.False(t, ci.Received.Before(before))
	require.NoError(t, c.Notify(t.Context(), "A.Nop", nil))
	ci = <-infos
	assert.True(t, ci.Notify)

	ci = <-calling
	assert.Equal(t, "A.Nop", ci.Method)
	assert.True(t, ci.Received.IsZero(), "zero on the calling side")

	err = c.Call(t.Context(), "A.Limited", nil, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err))
	assert.True(t, ferry.NotExecuted(err), "the flag crosses the wire")
}

// TestAuditMetadataNotForwarded checks IncomingMetadata: "Incoming
// metadata is not forwarded on calls a handler makes: copy it with
// WithOutgoingMetadata to propagate"; and OutgoingMetadata: "After
// AppendOutgoingMetadata it is a new map on every call".
func TestAuditMetadataNotForwarded(t *testing.T) {
	seen := make(chan ferry.Metadata, 2)
	_, backAddr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "B.Look", func(ctx context.Context, _ *struct{}) (*int, error) {
			seen <- ferry.IncomingMetadata(ctx)
			return nil, nil
		}))
	})
	back, err := client.Dial(t.Context(), backAddr)
	require.NoError(t, err)
	defer back.Close()
	_, front := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "F.Relay", func(ctx context.Context, propagate *bool) (*int, error) {
			if *propagate {
				ctx = ferry.WithOutgoingMetadata(ctx, ferry.IncomingMetadata(ctx))
			}
			return nil, back.Call(ctx, "B.Look", nil, nil)
		}))
	})
	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"tenant": "t1"})
	require.NoError(t, front.Call(ctx, "F.Relay", false, nil))
	assert.Empty(t, <-seen, "not forwarded")
	require.NoError(t, front.Call(ctx, "F.Relay", true, nil))
	assert.Equal(t, "t1", (<-seen)["tenant"], "propagated when copied")

	actx := ferry.AppendOutgoingMetadata(ctx, "k", "v")
	m1 := ferry.OutgoingMetadata(actx)
	m1["k"] = "changed"
	m2 := ferry.OutgoingMetadata(actx)
	assert.Equal(t, ferry.Metadata{"tenant": "t1", "k": "v"}, m2, "a new map on every call")
}

// TestAuditStreamSlotsNeverQueue checks WithMaxConcurrentCalls:
// "Streaming calls take a slot but never queue", while "Up to n more
// calls wait in a queue for a slot".
func TestAuditStreamSlotsNeverQueue(t *testing.T) {
	started := make(chan struct{}, 4)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Hold", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			started <- struct{}{}
			var v int
			for st.Recv(&v) == nil {
			}
			return nil, nil
		}))
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
	}, server.WithMaxConcurrentCalls(1))
	ctx := t.Context()
	st, err := c.NewStream(ctx, "S.Hold")
	require.NoError(t, err)
	<-started

	st2, err := c.NewStream(ctx, "S.Hold")
	require.NoError(t, err)
	var v int
	err = st2.Recv(&v)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "a stream never queues: %v", err)
	assert.True(t, ferry.NotExecuted(err))

	call := c.Go(ctx, "A.Nop", nil, nil)
	select {
	case <-call.Done():
		t.Fatalf("a unary call did not queue behind the stream: %v", call.Err())
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, st.CloseSend())
	require.ErrorIs(t, st.Recv(&v), io.EOF)
	require.NoError(t, call.Wait(), "it ran once the slot was free")
}

// TestAuditStreamEnds checks client.Stream: Send "once the handler has
// finished successfully" returns CodeFailedPrecondition, and "once a
// failure ended the stream (the handler's error status included), that
// failure"; Recv returns "the handler's error as a *ferry.Error"; a
// ServerStream method's stream "that ends without [a request] gets
// CodeInvalidArgument"; the server Stream's Context "ends with
// context.Canceled when the caller cancels".
func TestAuditStreamEnds(t *testing.T) {
	canceled := make(chan error, 1)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Ok", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			return "result", nil
		}))
		require.NoError(t, s.HandleStream("S.Fail", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			return nil, ferry.NewError(ferry.CodeAborted, "no").WithDetail("why", "test")
		}))
		require.NoError(t, server.HandleServerStream(s, "S.Count", func(ctx context.Context, n *int, send func(*int) error) error {
			return nil
		}))
		require.NoError(t, s.HandleStream("S.Wait", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			<-st.Context().Done()
			canceled <- st.Context().Err()
			return nil, nil
		}))
	})
	ctx := t.Context()

	st, err := c.NewStream(ctx, "S.Ok")
	require.NoError(t, err)
	var s string
	require.ErrorIs(t, st.Recv(&s), io.EOF)
	require.NoError(t, st.Result(&s))
	assert.Equal(t, "result", s)
	assert.Equal(t, ferry.CodeFailedPrecondition, ferry.CodeOf(st.Send(1)))

	st, err = c.NewStream(ctx, "S.Fail")
	require.NoError(t, err)
	err = st.Recv(&s)
	var fe *ferry.Error
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, ferry.CodeAborted, fe.Code)
	assert.Equal(t, "test", fe.Details["why"])
	err = st.Send(1)
	assert.Equal(t, ferry.CodeAborted, ferry.CodeOf(err), "that failure: %v", err)

	st, err = c.NewStream(ctx, "S.Count")
	require.NoError(t, err)
	require.NoError(t, st.CloseSend())
	require.NoError(t, st.CloseSend(), "calling it again does nothing")
	err = st.Recv(&s)
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "no request: %v", err)

	sctx, cancel := context.WithCancel(ctx)
	st, err = c.NewStream(sctx, "S.Wait")
	require.NoError(t, err)
	require.NoError(t, st.Send(1))
	cancel()
	select {
	case err := <-canceled:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context did not end")
	}
	err = st.Recv(&s)
	assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestAuditPlainDeadlineIsLocal checks WithPlainMsgpackRPC: "Deadlines
// then bound only the local wait": the call returns at its deadline with
// CodeDeadlineExceeded while the handler runs on.
func TestAuditPlainDeadlineIsLocal(t *testing.T) {
	release := make(chan struct{})
	finished := make(chan error, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Slow", func(ctx context.Context, _ *struct{}) (*int, error) {
			<-release
			finished <- ctx.Err()
			return nil, nil
		}))
	})
	c, err := client.Dial(t.Context(), addr, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = c.Call(ctx, "A.Slow", nil, nil)
	assert.Less(t, time.Since(start), 3*time.Second)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
	assert.NoError(t, <-finished, "the handler's context knew no deadline")
}

// TestAuditGoingAway checks Client.GoingAway: "closed when the server
// announces that it is shutting down: calls started from then on fail at
// once with CodeUnavailable and ferry.NotExecuted true, while each call
// already sent is answered"; and Shutdown "waits for running handlers".
func TestAuditGoingAway(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Slow", func(ctx context.Context, _ *struct{}) (*int, error) {
			started <- struct{}{}
			<-release
			n := 9
			return &n, nil
		}))
	})
	var n int
	call := c.Go(t.Context(), "A.Slow", nil, &n)
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(t.Context()) }()
	select {
	case <-c.GoingAway():
	case <-time.After(5 * time.Second):
		t.Fatal("GoingAway not closed during Shutdown")
	}
	err := c.Call(t.Context(), "A.Slow", nil, nil)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a handler running", err)
	default:
	}
	close(release)
	require.NoError(t, call.Wait(), "the call already sent is answered")
	assert.Equal(t, 9, n)
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
}

// TestAuditServerClose checks Close: "running handlers see their contexts
// canceled. It returns after every goroutine the server started has
// exited"; the caller's call fails.
func TestAuditServerClose(t *testing.T) {
	started := make(chan struct{}, 1)
	var exited atomic.Bool
	s, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Block", func(ctx context.Context, _ *struct{}) (*int, error) {
			started <- struct{}{}
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // work after the cancel that Close must wait for
			exited.Store(true)
			return nil, ctx.Err()
		}))
	})
	call := c.Go(t.Context(), "A.Block", nil, nil)
	<-started
	require.NoError(t, s.Close())
	assert.True(t, exited.Load(), "Close returned before the handler exited")
	select {
	case <-call.Done():
		assert.Error(t, call.Err())
	case <-time.After(5 * time.Second):
		t.Fatal("the call did not fail after Close")
	}
}

// TestAuditWireCounter checks WireCounter: "implemented by the
// ServerStream and ClientStream that Ferry hands to its stream
// interceptors ... the bytes the stream has carried each way so far".
func TestAuditWireCounter(t *testing.T) {
	type counts struct{ sent, received int64 }
	serverSide := make(chan counts, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Echo", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			var b []byte
			for st.Recv(&b) == nil {
				if err := st.Send(b); err != nil {
					return nil, err
				}
			}
			return nil, nil
		}))
	}, server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		res, err := next(ctx, st)
		wc, ok := st.(ferry.WireCounter)
		if assert.True(t, ok, "the server stream is a WireCounter") {
			s, r := wc.WireBytes()
			serverSide <- counts{s, r}
		}
		return res, err
	}))
	var clientWC ferry.WireCounter
	c, err := client.Dial(t.Context(), addr, client.WithStreamInterceptors(
		func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
			cs, err := next(ctx, info)
			if err == nil {
				clientWC, _ = cs.(ferry.WireCounter)
			}
			return cs, err
		}))
	require.NoError(t, err)
	defer c.Close()
	st, err := c.NewStream(t.Context(), "S.Echo")
	require.NoError(t, err)
	payload := make([]byte, 10000)
	for range 3 {
		require.NoError(t, st.Send(payload))
		var back []byte
		require.NoError(t, st.Recv(&back))
	}
	require.NoError(t, st.CloseSend())
	var b []byte
	require.ErrorIs(t, st.Recv(&b), io.EOF)
	require.NotNil(t, clientWC, "the client stream is a WireCounter")
	sent, received := clientWC.WireBytes()
	assert.GreaterOrEqual(t, sent, int64(30000))
	assert.GreaterOrEqual(t, received, int64(30000))
	sc := <-serverSide
	assert.GreaterOrEqual(t, sc.sent, int64(30000))
	assert.GreaterOrEqual(t, sc.received, int64(30000))
}

// TestAuditStreamCancelRightAfterOpen checks NewStream: "Cancelling ctx
// cancels the call on both sides", also when ctx ends right after the
// stream opens, before the server has started the handler (the cancel
// then overtakes the stream's opening), for a handler that only watches
// its context; and the same for a stream a server opens to its client
// (Peer.NewStream: "ctx's deadline and cancellation on both sides").
func TestAuditStreamCancelRightAfterOpen(t *testing.T) {
	const trials = 20
	canceled := make(chan error, trials)
	watch := func(ctx context.Context) {
		select {
		case <-ctx.Done():
			canceled <- ctx.Err()
		case <-time.After(10 * time.Second):
			canceled <- errors.New("never canceled")
		}
	}
	peers := make(chan *server.Peer, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, s.HandleStream("S.Watch", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
			watch(ctx)
			return nil, nil
		}))
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
		return c.HandleStream("C.Watch", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
			watch(ctx)
			return nil, nil
		})
	}))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
	peer := <-peers

	open := map[string]func(ctx context.Context) (func() error, error){
		"client to server": func(ctx context.Context) (func() error, error) {
			st, err := c.NewStream(ctx, "S.Watch")
			if err != nil {
				return nil, err
			}
			return st.Close, st.Send(1)
		},
		"server to client": func(ctx context.Context) (func() error, error) {
			st, err := peer.NewStream(ctx, "C.Watch")
			if err != nil {
				return nil, err
			}
			return st.Close, st.Send(1)
		},
	}
	for name, open := range open {
		for i := range trials {
			ctx, cancel := context.WithCancel(t.Context())
			closeStream, err := open(ctx)
			require.NoError(t, err, "%s %d", name, i)
			cancel()
			select {
			case err := <-canceled:
				require.ErrorIs(t, err, context.Canceled, "%s, trial %d", name, i)
			case <-time.After(15 * time.Second):
				t.Fatalf("%s, trial %d: the handler did not end", name, i)
			}
			_ = closeStream()
		}
	}
}

// TestAuditAuthErrors checks WithAuth: "if fn fails, the client's Dial
// fails with fn's error" (its code and message), handlers find "the
// identity fn returned with ferry.IdentityFromContext", and Peer.Identity
// is the same; and client.WithServerAuth: "If fn fails, Dial fails with
// CodeUnauthenticated (or fn's code) and ferry.NotExecuted true", "The
// identity fn returns is what the client's handlers find".
func TestAuditAuthErrors(t *testing.T) {
	identities := make(chan [2]any, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Who", func(ctx context.Context, _ *struct{}) (*int, error) {
			identities <- [2]any{ferry.IdentityFromContext(ctx), server.PeerFromContext(ctx).Identity()}
			return nil, nil
		}))
	}, server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		switch info.Token {
		case "good":
			return "alice", nil
		case "denied":
			return nil, ferry.NewError(ferry.CodePermissionDenied, "banned")
		}
		return nil, errors.New("who are you")
	}))
	c, err := client.Dial(t.Context(), addr, client.WithToken("good"))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "A.Who", nil, nil))
	assert.Equal(t, [2]any{"alice", "alice"}, <-identities)

	_, err = client.Dial(t.Context(), addr, client.WithToken("denied"))
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "fn's error: %v", err)
	assert.Contains(t, err.Error(), "banned")
	_, err = client.Dial(t.Context(), addr, client.WithToken("bad"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "who are you", "fn's error")

	// The client checks the server.
	serverIDs := make(chan any, 1)
	_, err = client.Dial(t.Context(), addr, client.WithToken("good"),
		client.WithServerAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
			return nil, errors.New("not my server")
		}))
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
	assert.True(t, ferry.NotExecuted(err))
	_, err = client.Dial(t.Context(), addr, client.WithToken("good"),
		client.WithServerAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
			return nil, ferry.NewError(ferry.CodePermissionDenied, "wrong server")
		}))
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err), "fn's code: %v", err)
	assert.True(t, ferry.NotExecuted(err))

	peers := make(chan *server.Peer, 1)
	_, addr2 := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	c2, err := client.Dial(t.Context(), addr2,
		client.WithServerAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
			assert.Empty(t, info.Token)
			assert.Equal(t, addr2, info.RemoteAddr.String())
			return "the-server", nil
		}),
		client.WithHandlers(func(c *client.Client) error {
			return client.Handle(c, "C.Who", func(ctx context.Context, _ *struct{}) (*int, error) {
				serverIDs <- ferry.IdentityFromContext(ctx)
				return nil, nil
			})
		}))
	require.NoError(t, err)
	defer c2.Close()
	require.NoError(t, c2.Call(t.Context(), "P.Hello", nil, nil))
	require.NoError(t, (<-peers).Call(t.Context(), "C.Who", nil, nil))
	assert.Equal(t, "the-server", <-serverIDs)
}

// TestAuditInterceptorOptionsAppend checks WithInterceptors on both
// sides: it "appends" ("the first is outermost"), so two options add up.
func TestAuditInterceptorOptionsAppend(t *testing.T) {
	var order []string
	var mu sync.Mutex
	note := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	si := func(name string) ferry.ServerInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			note(name)
			return next(ctx, args)
		}
	}
	ci := func(name string) ferry.ClientInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			note(name)
			return next(ctx, info, args, reply)
		}
	}
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) {
			note("handler")
			return nil, nil
		}))
	}, server.WithInterceptors(si("s1"), si("s2")), server.WithInterceptors(si("s3")))
	c, err := client.Dial(t.Context(), addr, client.WithInterceptors(ci("c1")), client.WithInterceptors(ci("c2"), ci("c3")))
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	assert.Equal(t, []string{"c1", "c2", "c3", "s1", "s2", "s3", "handler"}, order)
}

// TestAuditClientCloseEndsServedStreams checks Client.Close: "the
// handlers of streams the server opened see their contexts canceled. It
// returns after the client's goroutines exit, those handlers included."
func TestAuditClientCloseEndsServedStreams(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	started := make(chan struct{}, 1)
	var ended atomic.Value
	c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
		return c.HandleStream("C.Hold", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) {
			started <- struct{}{}
			<-ctx.Done()
			time.Sleep(50 * time.Millisecond) // work after the cancel that Close must wait for
			ended.Store(ctx.Err())
			return nil, nil
		})
	}))
	require.NoError(t, err)
	require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
	st, err := (<-peers).NewStream(t.Context(), "C.Hold")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(1))
	<-started
	require.NoError(t, c.Close())
	got := ended.Load()
	require.NotNil(t, got, "Close returned before the stream handler exited")
	assert.ErrorIs(t, got.(error), context.Canceled)
}

// TestAuditCallFieldsAndInPlaceBytes checks ferry.Call: "its fields Method,
// Args and Reply say what was called"; and Caller.Call: "A *[]byte reply
// whose slice has the capacity is filled in place".
func TestAuditCallFieldsAndInPlaceBytes(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "B.Bytes", func(ctx context.Context, n *int) (*[]byte, error) {
			b := make([]byte, *n)
			for i := range b {
				b[i] = byte(i)
			}
			return &b, nil
		}))
	})
	args := 100
	buf := make([]byte, 0, 4096)
	call := c.Go(t.Context(), "B.Bytes", &args, &buf)
	require.NoError(t, call.Wait())
	assert.Equal(t, "B.Bytes", call.Method)
	assert.Same(t, &args, call.Args)
	assert.Same(t, &buf, call.Reply)
	require.Len(t, buf, 100)
	assert.Equal(t, byte(99), buf[99])
	assert.Equal(t, 4096, cap(buf), "filled in place")

	whole := buf[:cap(buf)]
	args = 3000
	require.NoError(t, c.Call(t.Context(), "B.Bytes", &args, &buf))
	require.Len(t, buf, 3000)
	assert.Same(t, &whole[0], &buf[0], "the same array")
}

// TestAuditRawRoundTrip checks codec.Raw: it "carries a msgpack value
// through unchanged, so a handler can accept and return values of any
// shape (str and bin kept apart, integer map keys, extension types)".
func TestAuditRawRoundTrip(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "E.Echo", func(ctx context.Context, r *codec.Raw) (*codec.Raw, error) {
			return r, nil
		}))
	})
	for name, v := range map[string][]byte{
		"str":         {0xa2, 'h', 'i'},
		"bin":         {0xc4, 0x02, 'h', 'i'},
		"int map key": {0x81, 0x07, 0xa1, 'x'},
		"ext":         {0xd6, 0x09, 1, 2, 3, 4},
		"nested":      {0x92, 0xc4, 0x00, 0x81, 0xff, 0xc0},
	} {
		var back codec.Raw
		require.NoError(t, c.Call(t.Context(), "E.Echo", codec.Raw(v), &back), name)
		assert.Equal(t, v, []byte(back), name)
	}
}

// TestAuditEveryErrorIsAnError checks the root package doc: "Every error
// a call returns is an *Error with a Code", for failures that happen on
// the calling side: a reply that is not a pointer, arguments that cannot
// be encoded, a reply that does not fit its target, a closed client.
func TestAuditEveryErrorIsAnError(t *testing.T) {
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Text", func(ctx context.Context, _ *struct{}) (*string, error) {
			s := "text"
			return &s, nil
		}))
	})
	ctx := t.Context()
	var n int
	for name, err := range map[string]error{
		"reply not a pointer":  c.Call(ctx, "A.Text", nil, n),
		"args not encodable":   c.Call(ctx, "A.Text", make(chan int), nil),
		"reply does not fit":   c.Call(ctx, "A.Text", nil, &n),
		"notify not encodable": c.Notify(ctx, "A.Text", func() {}),
	} {
		var fe *ferry.Error
		if assert.ErrorAs(t, err, &fe, name) {
			assert.True(t, fe.Code.Valid(), "%s: %v", name, err)
		}
	}
	require.NoError(t, c.Close())
	var fe *ferry.Error
	assert.ErrorAs(t, c.Call(ctx, "A.Text", nil, nil), &fe, "closed")
}

// TestAuditKeptPeerAfterDisconnect checks Peer: "A Peer may be kept and
// used after the handler that found it returns, until Done is closed";
// afterwards its calls fail, never written (NotExecuted), as *Error.
func TestAuditKeptPeerAfterDisconnect(t *testing.T) {
	peers := make(chan *server.Peer, 1)
	_, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "P.Hello", func(ctx context.Context, _ *struct{}) (*int, error) {
			peers <- server.PeerFromContext(ctx)
			return nil, nil
		}))
	})
	// The session ends a moment after Done: try it a few times.
	for range 20 {
		c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
			return client.Handle(c, "C.Ping", func(ctx context.Context, _ *struct{}) (*string, error) {
				s := "pong"
				return &s, nil
			})
		}))
		require.NoError(t, err)
		require.NoError(t, c.Call(t.Context(), "P.Hello", nil, nil))
		p := <-peers
		var s string
		require.NoError(t, p.Call(t.Context(), "C.Ping", nil, &s), "after the handler returned")
		assert.Equal(t, "pong", s)
		require.NoError(t, c.Close())
		select {
		case <-p.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
		err = p.Call(t.Context(), "C.Ping", nil, &s)
		var fe *ferry.Error
		require.ErrorAs(t, err, &fe)
		require.True(t, ferry.NotExecuted(err), "%v", err)
		require.Error(t, p.Notify(t.Context(), "C.Ping", nil))
		_, err = p.NewStream(t.Context(), "C.Ping")
		require.Error(t, err)
		require.True(t, ferry.NotExecuted(err), "%v", err)
	}
}

// TestAuditConnHooks checks WithConnHooks: "either may be nil. onConnect
// runs in its own goroutine per connection while calls are already being
// served"; "onDisconnect runs once the connection has ended"; for bare
// MessagePack-RPC clients too, whose Peer "has no streams:
// CodeUnimplemented at once"; and ConnInfo.Running counts "handlers
// running for it".
func TestAuditConnHooks(t *testing.T) {
	for _, hooks := range [][2]func(*server.Peer){{nil, nil}, {func(*server.Peer) {}, nil}, {nil, func(*server.Peer) {}}} {
		_, c := auditServer(t, func(s *server.Server) {
			require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
		}, server.WithConnHooks(hooks[0], hooks[1]))
		require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil))
	}

	connected := make(chan *server.Peer, 2)
	disconnected := make(chan *server.Peer, 2)
	unblock := make(chan struct{})
	defer close(unblock)
	running := make(chan struct{})
	release := make(chan struct{})
	s, addr := auditListen(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Nop", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }))
		require.NoError(t, server.Handle(s, "A.Hold", func(ctx context.Context, _ *struct{}) (*int, error) {
			close(running)
			select {
			case <-release:
			case <-ctx.Done():
			}
			return nil, nil
		}))
	}, server.WithConnHooks(func(p *server.Peer) {
		connected <- p
		<-unblock // a hook that never returns blocks nothing
	}, func(p *server.Peer) { disconnected <- p }))
	for _, plain := range []bool{false, true} {
		var opts []client.Option
		if plain {
			opts = append(opts, client.WithPlainMsgpackRPC())
		}
		c, err := client.Dial(t.Context(), addr, opts...)
		require.NoError(t, err)
		require.NoError(t, c.Call(t.Context(), "A.Nop", nil, nil), "served while onConnect runs")
		var p *server.Peer
		select {
		case p = <-connected:
		case <-time.After(5 * time.Second):
			t.Fatal("onConnect did not run")
		}
		if plain {
			_, err := p.NewStream(t.Context(), "C.Any")
			assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "a bare client has no streams: %v", err)

			call := c.Go(t.Context(), "A.Hold", nil, nil)
			<-running
			running := -1
			for _, ci := range s.Conns() {
				if ci.Protocol == "msgpack-rpc" {
					running = ci.Running
				}
			}
			assert.Equal(t, 1, running)
			close(release)
			require.NoError(t, call.Wait())
		}
		require.NoError(t, c.Close())
		select {
		case gone := <-disconnected:
			assert.Same(t, p, gone)
		case <-time.After(5 * time.Second):
			t.Fatal("onDisconnect did not run")
		}
	}
}

// TestAuditNilHandlers checks that registering a nil handler or receiver
// is an error at registration, never a panic when called: "Register ...
// any other exported method is an error naming it".
func TestAuditNilHandlers(t *testing.T) {
	s := server.New()
	defer s.Close()
	assert.Error(t, server.Handle[struct{}, int](s, "A.Nil", nil))
	assert.Error(t, s.HandleStream("A.NilStream", server.Bidi, nil))
	assert.Error(t, s.HandleStream("A.BadKind", server.StreamKind(0), func(ctx context.Context, st *server.Stream) (any, error) { return nil, nil }))
	assert.Error(t, s.Register(nil))
	assert.Error(t, s.Register((*auditRcvr)(nil)), "a nil pointer receiver")
	assert.Error(t, server.Handle(s, "", func(ctx context.Context, _ *struct{}) (*int, error) { return nil, nil }), "an empty name")
	assert.Error(t, server.HandleBidi[int, int](s, "A.NilBidi", nil))
	assert.Error(t, server.HandleServerStream[int, int](s, "A.NilServer", nil))
	assert.Error(t, server.HandleClientStream[int, int](s, "A.NilClient", nil))
	assert.Empty(t, s.Methods())

	// The same on a client, for the calls its server makes.
	_, addr := auditListen(t, func(s *server.Server) {})
	c, err := client.Dial(t.Context(), addr, client.WithHandlers(func(c *client.Client) error {
		assert.Error(t, client.Handle[int, int](c, "C.Nil", nil))
		assert.Error(t, client.HandleBidi[int, int](c, "C.NilBidi", nil))
		assert.Error(t, client.HandleServerStream[int, int](c, "C.NilServer", nil))
		assert.Error(t, client.HandleClientStream[int, int](c, "C.NilClient", nil))
		assert.Error(t, c.HandleStream("C.NilStream", ferry.BidiStreaming, nil))
		assert.Error(t, c.Register((*auditRcvr)(nil)))
		return nil
	}))
	require.NoError(t, err)
	c.Close()
}

// TestAuditStreamAfterConnectionEnd checks that once Done is closed (Conn:
// "closed when the connection ends, by Close or by failure") no stream
// opens: NewStream fails, not executed, on a client whose server closed
// it; and that a unary call then is "never written to any connection"
// (NotExecuted) with a message that does not call its outcome unknown.
func TestAuditStreamAfterConnectionEnd(t *testing.T) {
	for range 10 {
		s, c := auditServer(t, func(s *server.Server) {})
		require.NoError(t, s.Close())
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
		_, err := c.NewStream(t.Context(), "S.Any")
		require.Error(t, err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)

		// A unary call too, and its message agrees with its flag.
		err = c.Call(t.Context(), "S.Any", nil, nil)
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "%v", err)
		assert.True(t, ferry.NotExecuted(err), "%v", err)
		assert.NotContains(t, err.Error(), "may or may not", "a call never sent")
	}
}

// TestAuditStreamCloseCancels checks the typed streams' Close: "releases
// the stream, cancelling the call if it has not finished" (the handler's
// context ends with context.Canceled), and server.Stream.Recv: it returns
// "CodeCanceled ... once ctx ended".
func TestAuditStreamCloseCancels(t *testing.T) {
	ended := make(chan [2]error, 1)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.HandleServerStream(s, "S.Forever", func(ctx context.Context, n *int, send func(*int) error) error {
			for i := 0; ; i++ {
				if err := send(&i); err != nil {
					break
				}
			}
			<-ctx.Done()
			ended <- [2]error{ctx.Err(), nil}
			return nil
		}))
		require.NoError(t, s.HandleStream("S.Recv", server.ClientStream, func(ctx context.Context, st *server.Stream) (any, error) {
			var v int
			for {
				if err := st.Recv(&v); err != nil {
					ended <- [2]error{ctx.Err(), err}
					return nil, nil
				}
			}
		}))
	})
	one := 1
	r, err := client.OpenServerStream[int, int](t.Context(), c, "S.Forever", &one)
	require.NoError(t, err)
	_, err = r.Recv()
	require.NoError(t, err)
	require.NoError(t, r.Close())
	select {
	case got := <-ended:
		assert.ErrorIs(t, got[0], context.Canceled)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the handler")
	}

	w, err := client.OpenClientStream[int, int](t.Context(), c, "S.Recv")
	require.NoError(t, err)
	require.NoError(t, w.Send(&one))
	require.NoError(t, w.Close())
	select {
	case got := <-ended:
		assert.ErrorIs(t, got[0], context.Canceled)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(got[1]), "Recv once ctx ended: %v", got[1])
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not cancel the handler")
	}
}

// TestAuditLoggerDefaultSilent checks WithLogger: "sends the server's and
// the transport's log lines to l. Default: silent": a handler panic (which
// Ferry logs) writes nothing to slog's or log's default output without the
// option, and reaches l with it.
func TestAuditLoggerDefaultSilent(t *testing.T) {
	var defaults bytes.Buffer
	var dmu sync.Mutex
	dw := &lockedWriter{w: &defaults, mu: &dmu}
	oldSlog := slog.Default()
	oldLog := log.Writer()
	slog.SetDefault(slog.New(slog.NewTextHandler(dw, nil)))
	log.SetOutput(dw)
	t.Cleanup(func() {
		slog.SetDefault(oldSlog)
		log.SetOutput(oldLog)
	})
	panicky := func(s *server.Server) {
		require.NoError(t, server.Handle(s, "A.Panic", func(ctx context.Context, _ *struct{}) (*int, error) { panic("boom") }))
	}

	srv, c := auditServer(t, panicky)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(c.Call(t.Context(), "A.Panic", nil, nil)))
	require.NoError(t, c.Close())
	require.NoError(t, srv.Close())

	var mine bytes.Buffer
	var mu sync.Mutex
	l := slog.New(slog.NewTextHandler(&lockedWriter{w: &mine, mu: &mu}, nil))
	_, c = auditServer(t, panicky, server.WithLogger(l))
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(c.Call(t.Context(), "A.Panic", nil, nil)))
	mu.Lock()
	assert.Contains(t, mine.String(), "panic")
	mu.Unlock()
	dmu.Lock()
	defer dmu.Unlock()
	assert.Empty(t, defaults.String(), "nothing on the default loggers")
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

// Write writes p to w under the lock.
func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestAuditInterceptorArgs checks ferry.Handler: "args is a pointer to the
// decoded arguments", as a server interceptor sees it, for Handle and for
// a net/rpc-style method taking its arguments by value.
func TestAuditInterceptorArgs(t *testing.T) {
	types := make(chan string, 2)
	_, c := auditServer(t, func(s *server.Server) {
		require.NoError(t, server.Handle(s, "N.Take", func(ctx context.Context, a *auditNums) (*int, error) { return nil, nil }))
		require.NoError(t, s.RegisterName("M", auditRcvr{}))
	}, server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		types <- reflect.TypeOf(args).String()
		return next(ctx, args)
	}))
	require.NoError(t, c.Call(t.Context(), "N.Take", auditNums{I: 1}, nil))
	assert.Equal(t, "*e2e_test.auditNums", <-types)
	var n int
	require.NoError(t, c.Call(t.Context(), "M.Do", 4, &n))
	assert.Equal(t, "*int", <-types)
	assert.Equal(t, 8, n)
}
