package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13ReplyThatDoesNotFitSameCodeOnAStream checks the Stream doc
// ("Errors follow the unary calls' contract (the same code means the same
// thing)") against PROTOCOL.md 2.1 ("A Ferry caller fails a reply that does
// not fit with internal (the call ran: not flagged)"): a message the handler
// sent that does not decode into the caller's type is the same failure as a
// unary reply that does not, and gets the same code from Recv, typed or
// not, and from Result; the stream goes on. A handler's Recv of a caller's
// message that does not fit is an argument refused: invalid_argument.
func TestVreview13ReplyThatDoesNotFitSameCodeOnAStream(t *testing.T) {
	s := streamServer(t)
	require.NoError(t, server.Handle(s, "V13.Word", func(ctx context.Context, _ *struct{}) (*string, error) {
		w := "seven"
		return &w, nil
	}))
	require.NoError(t, s.HandleStream("V13.Words", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
		var n int
		err := st.Recv(&n) // the caller sends a word: an argument that does not fit
		if ferry.CodeOf(err) != ferry.CodeInvalidArgument {
			return nil, ferry.Errorf(ferry.CodeAborted, "handler's Recv: want invalid_argument, got %v", err)
		}
		if err := st.Send("seven"); err != nil {
			return nil, err
		}
		if err := st.Send(8); err != nil {
			return nil, err
		}
		if err := st.Recv(nil); err != io.EOF {
			return nil, err
		}
		return "done", nil
	}))
	c := dialTCP(t, s)

	var n int
	unary := c.Call(t.Context(), "V13.Word", nil, &n)
	require.Error(t, unary)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(unary), "unary: %v", unary)
	assert.False(t, ferry.NotExecuted(unary))

	st, err := c.NewStream(t.Context(), "V13.Words")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send("a word"))
	err = st.Recv(&n)
	assert.Equal(t, ferry.CodeOf(unary), ferry.CodeOf(err), "Recv of a message that does not fit: %v", err)
	assert.False(t, ferry.NotExecuted(err))
	assert.Equal(t, `ferry: internal: cannot decode the result into *int: want an integer, got "seven"`, unary.Error())
	assert.Equal(t, `ferry: internal: cannot decode the message into *int: want an integer, got "seven"`, err.Error(), "one \"ferry:\" prefix")
	require.NoError(t, st.Recv(&n), "the call goes on")
	assert.Equal(t, 8, n)
	require.NoError(t, st.CloseSend())
	require.Equal(t, io.EOF, st.Recv(&n))
	err = st.Result(&n)
	assert.Equal(t, ferry.CodeOf(unary), ferry.CodeOf(err), "Result that does not fit: %v", err)

	typed, err := client.OpenServerStream[num, struct{ N string }](t.Context(), c, "Num.Count", &num{2})
	require.NoError(t, err)
	defer typed.Close()
	_, err = typed.Recv()
	assert.Equal(t, ferry.CodeOf(unary), ferry.CodeOf(err), "typed Recv: %v", err)
}

// TestVreview13PeerStreamReplyThatDoesNotFit: the same holds with the roles
// swapped (PROTOCOL.md 6, "Either side opens"): a server that opens a
// stream to its client's handler and reads a message that does not fit
// gets internal, and the client's handler reading a message that does not
// fit gets invalid_argument, which reaches the server as the status.
func TestVreview13PeerStreamReplyThatDoesNotFit(t *testing.T) {
	s, peers := peerServer(t)
	c := dialTCP(t, s)
	clientFeeds(t, c)
	p := <-peers

	st, err := client.OpenServerStream[num, struct{ N string }](t.Context(), p, "Feed.Live", &num{2})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.Recv()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "server's Recv: %v", err)
	_, err = st.Recv()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "the call goes on: the second message: %v", err)
	_, err = st.Recv()
	assert.Equal(t, io.EOF, err)

	bidi, err := client.OpenBidi[struct{ N string }, num](t.Context(), p, "Feed.Double")
	require.NoError(t, err)
	defer bidi.Close()
	require.NoError(t, bidi.Send(&struct{ N string }{"x"}))
	_, err = bidi.Recv()
	assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "the client handler's refusal: %v", err)
}

type v13Inner struct{ X, Y int8 }

type v13Args struct {
	N   int32
	In  v13Inner
	P   *v13Inner
	Arr [2]int
	S   []uint16
	M   map[string]int
	B   bool
	Str string
	Bin []byte
}

type V13 struct{}

func (V13) Int(ctx context.Context, n int, reply *int) error        { *reply = n; return nil }
func (V13) Bool(ctx context.Context, b bool, reply *bool) error     { *reply = b; return nil }
func (V13) Ints(ctx context.Context, s []int, reply *int) error     { *reply = len(s); return nil }
func (V13) Two(ctx context.Context, a [2]int, reply *int) error     { *reply = a[0] + a[1]; return nil }
func (V13) Map(ctx context.Context, m map[int]string, r *int) error { *r = len(m); return nil }
func (V13) All(ctx context.Context, a *v13Args, reply *bool) error  { *reply = true; return nil }
func (V13) Str(ctx context.Context, s string, reply *string) error  { *reply = s; return nil }

// TestVreview13ArgumentsTakenOrRefused probes argument shapes past the
// documented examples, for net/rpc-style methods and typed handlers alike:
// every conversion that loses or guesses is refused with invalid_argument.
func TestVreview13ArgumentsTakenOrRefused(t *testing.T) {
	s := newServer(t)
	require.NoError(t, s.Register(V13{}))
	require.NoError(t, server.Handle(s, "T.Inner", func(ctx context.Context, in *v13Inner) (*int, error) {
		n := int(in.X) + int(in.Y)
		return &n, nil
	}))
	c := dialTCP(t, s)
	raw := func(v any) codec.Raw { return codec.Raw(mustMarshal(v)) }

	bad := []struct {
		method string
		args   any
	}{
		{"V13.Int", client.Params{3, 4}},     // extra param to a scalar
		{"V13.Int", client.Params{3.5}},      // fraction
		{"V13.Int", client.Params{true}},     // bool for a number
		{"V13.Int", client.Params{"3"}},      // str for a number
		{"V13.Int", client.Params{[]int{3}}}, // array for a scalar
		{"V13.Int", client.Params{map[string]int{"a": 1}}},
		{"V13.Int", client.Params{math.NaN()}},
		{"V13.Bool", client.Params{1}},
		{"V13.Bool", client.Params{"true"}},
		{"V13.Ints", client.Params{1, 2.5}},
		{"V13.Ints", client.Params{"x"}},
		{"V13.Two", client.Params{1, 2, 3}}, // too many for a fixed array
		{"V13.Two", raw([]any{[]int{1, 2, 3}})},
		{"V13.Map", client.Params{map[string]string{"a": "b"}}}, // str key for an int key
		{"V13.Map", client.Params{map[int]int{1: 2}}},           // int value for a str
		{"V13.Str", client.Params{5}},
		{"V13.All", map[string]any{"N": int64(math.MaxInt32) + 1}},
		{"V13.All", map[string]any{"In": []any{1, 2, 3}}},
		{"V13.All", map[string]any{"In": map[string]any{"X": 128}}},
		{"V13.All", map[string]any{"P": []any{-129}}},
		{"V13.All", map[string]any{"Arr": []any{1, 2, 3}}},
		{"V13.All", map[string]any{"S": []any{-1}}},
		{"V13.All", map[string]any{"S": []any{65536}}},
		{"V13.All", map[string]any{"M": map[string]any{"k": 1.5}}},
		{"V13.All", map[string]any{"B": 0}},
		{"V13.All", map[string]any{"Str": 1}},
		{"V13.All", map[string]any{"Bin": 1}},
		{"V13.All", map[string]any{"In": "x"}},
		{"V13.All", client.Params{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"V13.All", client.Params{"n"}},
		{"V13.All", client.Params{5}}, // first field, but int32 fits 5: fine? see ok below
		{"T.Inner", client.Params{1, 2, 3}},
		{"T.Inner", client.Params{1.5}},
		{"T.Inner", client.Params{200}},
		{"T.Inner", map[string]any{"x": 1}},
	}
	for _, b := range bad {
		var reply any
		err := c.Call(t.Context(), b.method, b.args, &reply)
		if b.method == "V13.All" {
			if p, ok := b.args.(client.Params); ok && len(p) == 1 && p[0] == 5 {
				assert.NoError(t, err, "[5] is the first field")
				continue
			}
		}
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s %#v: %v (reply %v)", b.method, b.args, err, reply)
	}

	ok := []struct {
		method string
		args   any
		want   any
	}{
		{"V13.Int", nil, int64(0)},
		{"V13.Int", client.Params{}, int64(0)},
		{"V13.Int", client.Params{nil}, int64(0)},
		{"V13.Int", client.Params{4.0}, int64(4)},
		{"V13.Int", client.Params{uint64(7)}, int64(7)},
		{"V13.Ints", client.Params{1, 2, 3}, int64(3)},
		{"V13.Ints", client.Params{[]int{1, 2}}, int64(2)},
		{"V13.Two", client.Params{1, 2}, int64(3)},
		{"V13.Str", client.Params{[]byte("bin")}, "bin"},
		{"T.Inner", client.Params{1, 2}, int64(3)},
		{"T.Inner", client.Params{-1}, int64(-1)},
		{"T.Inner", nil, int64(0)},
		{"V13.All", map[string]any{"In": []any{1, 2}, "P": []any{3}, "Bin": "s", "Str": []byte("b")}, true},
	}
	for _, o := range ok {
		var reply any
		err := c.Call(t.Context(), o.method, o.args, &reply)
		if assert.NoError(t, err, "%s %#v", o.method, o.args) {
			assert.EqualValues(t, o.want, reply, "%s %#v", o.method, o.args)
		}
	}
}

// TestVreview13RepliesTakenOrRefused: replies follow the same rules on the
// caller's side (PROTOCOL.md 2.1), through Call, Go, Invoke and Async:
// a reply that does not fit is internal, not flagged, and the connection
// goes on.
func TestVreview13RepliesTakenOrRefused(t *testing.T) {
	c := dialTCP(t, newServer(t))
	ctx := t.Context()
	var i8 int8
	err := c.Call(ctx, "Arith.Add", client.Params{300, 0}, &i8)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.False(t, ferry.NotExecuted(err))
	_, err = client.Invoke[uint](ctx, c, "Arith.Add", client.Params{-3, 1})
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	_, err = client.Async[string](ctx, c, "Arith.Add", client.Params{3, 1}).Wait()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	call := c.Go(ctx, "Echo.Echo", 2.5, new(int))
	<-call.Done()
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(call.Err()), "%v", call.Err())
	var f32 float32
	err = c.Call(ctx, "Echo.Echo", math.MaxFloat64, &f32)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	var b bool
	err = c.Call(ctx, "Echo.Echo", 1, &b)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	sum, err := client.Invoke[int8](ctx, c, "Arith.Add", client.Params{100, 27})
	require.NoError(t, err, "the connection goes on")
	assert.Equal(t, int8(127), *sum)
}

// TestVreview13ClientCloseEndsStreams: "Close ends the connection. Calls
// in flight fail at once with an error wrapping ferry.ErrClosed": a
// streaming call in flight is one, whether its Recv waits or comes after.
func TestVreview13ClientCloseEndsStreams(t *testing.T) {
	s := streamServer(t)
	c := dialTCP(t, s)
	ctx := t.Context()
	st, err := c.NewStream(ctx, "Num.Double")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&num{1}))
	var m num
	require.NoError(t, st.Recv(&m))
	st2, err := client.OpenBidi[num, num](ctx, c, "Num.Double")
	require.NoError(t, err)
	defer st2.Close()
	waiting := make(chan error, 1)
	go func() { _, err := st2.Recv(); waiting <- err }()
	require.NoError(t, c.Close())
	select {
	case err := <-waiting:
		assert.ErrorIs(t, err, ferry.ErrClosed, "a waiting Recv: %v", err)
		assert.Equal(t, ferry.CodeCanceled, ferry.CodeOf(err), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Recv still waits after Close")
	}
	err = st.Recv(&m)
	assert.ErrorIs(t, err, ferry.ErrClosed, "a later Recv: %v", err)
	err = st.Send(&num{2})
	assert.ErrorIs(t, err, ferry.ErrClosed, "a later Send: %v", err)
}

// TestVreview13CallsOnADeadConnection: once the connection has ended
// (Done closed), a call is "never written to any connection"
// (ferry.NotExecuted's doc): every way to call says so, with
// CodeUnavailable, and Err says why the connection ended.
func TestVreview13CallsOnADeadConnection(t *testing.T) {
	for _, tr := range conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := streamServer(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			var opts []client.Option
			if tr.plain {
				opts = append(opts, client.WithPlainMsgpackRPC())
			}
			c, err := client.Dial(t.Context(), l.Addr().String(), opts...)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Call(t.Context(), "Arith.Add", client.Params{1, 2}, nil))
			require.NoError(t, s.Close())
			<-done
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the client did not notice the server closing")
			}
			require.Error(t, c.Err())
			ctx := t.Context()
			err = c.Call(ctx, "Arith.Add", client.Params{1, 2}, nil)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "Call: %v", err)
			assert.True(t, ferry.NotExecuted(err), "Call: %v", err)
			call := c.Go(ctx, "Arith.Add", client.Params{1, 2}, nil)
			<-call.Done()
			assert.True(t, ferry.NotExecuted(call.Err()), "Go: %v", call.Err())
			err = c.Notify(ctx, "Arith.Add", client.Params{1, 2})
			assert.Error(t, err, "Notify")
			assert.True(t, ferry.NotExecuted(err), "Notify: %v", err)
			if !tr.plain {
				st, err := c.NewStream(ctx, "Num.Double")
				if err == nil {
					err = st.Send(&num{1})
					if err == nil {
						err = st.Recv(new(num))
					}
					st.Close()
				}
				assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "stream: %v", err)
				assert.True(t, ferry.NotExecuted(err), "stream: %v", err)
			}
		})
	}
}

// TestVreview13DialFailuresNotExecuted checks Dial's doc: "A connection or
// handshake that fails, or that the server refuses, fails Dial with
// ferry.NotExecuted true", with a *ferry.Error and a code, for a closed
// port, a listener that closes at once, one that answers garbage, a
// context already ended, and an invalid option.
func TestVreview13DialFailuresNotExecuted(t *testing.T) {
	ctx := t.Context()
	check := func(name string, err error) {
		t.Helper()
		var fe *ferry.Error
		if assert.ErrorAs(t, err, &fe, "%s: %v", name, err) {
			assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = client.Dial(ctx, closed)
	check("closed port", err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))

	serve := func(fn func(net.Conn)) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 2 {
				c, err := l.Accept()
				if err != nil {
					return
				}
				fn(c)
			}
		}()
		t.Cleanup(func() { l.Close(); <-done })
		return l.Addr().String()
	}
	_, err = client.Dial(ctx, serve(func(c net.Conn) { c.Close() }))
	check("closed at once", err)
	_, err = client.Dial(ctx, serve(func(c net.Conn) {
		_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		c.Close()
	}))
	check("an HTTP server", err)

	ended, cancel := context.WithCancel(ctx)
	cancel()
	s := newServer(t)
	addr := listen(t, s)
	_, err = client.Dial(ended, addr)
	check("canceled ctx", err)
	assert.ErrorIs(t, err, context.Canceled)
	short, cancel2 := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel2()
	<-short.Done()
	_, err = client.Dial(short, addr)
	check("expired ctx", err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 1
	_, err = client.Dial(ctx, addr, client.WithConfig(cfg))
	assert.Error(t, err, "an invalid option")

	sa := server.New(server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		return nil, ferry.NewError(ferry.CodePermissionDenied, "no")
	}))
	t.Cleanup(func() { sa.Close() })
	_, err = client.Dial(ctx, listen(t, sa))
	check("refused by the server", err)
	assert.Equal(t, ferry.CodePermissionDenied, ferry.CodeOf(err))
}

// TestVreview13EveryErrorIsAnError checks the root doc: "Every error a
// call returns is an *Error with a Code", for mistakes of the caller's own
// (a reply that is not a pointer, args that do not encode) through Call,
// Go, Notify, Invoke and Async, on an open and a closed client; a Go call
// never panics.
func TestVreview13EveryErrorIsAnError(t *testing.T) {
	s := newServer(t)
	require.NoError(t, server.Handle(s, "V13.Plain", func(ctx context.Context, _ *struct{}) (*int, error) {
		return nil, fmt.Errorf("plain %w", errors.New("cause"))
	}))
	require.NoError(t, server.Handle(s, "V13.Ctx", func(ctx context.Context, _ *struct{}) (*int, error) {
		return nil, context.DeadlineExceeded
	}))
	c := dialTCP(t, s)
	ctx := t.Context()
	check := func(name string, err error, code ferry.Code, notExecuted bool) {
		t.Helper()
		var fe *ferry.Error
		if assert.ErrorAs(t, err, &fe, name) {
			assert.Equal(t, code, fe.Code, "%s: %v", name, err)
			assert.Equal(t, notExecuted, ferry.NotExecuted(err), "%s: NotExecuted: %v", name, err)
			assert.Regexp(t, `^ferry: `+code.String()+`: `, err.Error(), name)
		}
	}
	var sum int64
	err := c.Call(ctx, "Arith.Add", client.Params{1, 2}, sum) // not a pointer
	assert.Error(t, err, "a reply that is not a pointer")
	if err != nil {
		var fe *ferry.Error
		assert.ErrorAs(t, err, &fe, "non-pointer reply: %v", err)
	}
	check("args that do not encode", c.Call(ctx, "Arith.Add", make(chan int), &sum), ferry.CodeInternal, true)
	call := c.Go(ctx, "Arith.Add", func() {}, &sum)
	<-call.Done()
	check("Go with args that do not encode", call.Err(), ferry.CodeInternal, true)
	assert.Error(t, c.Notify(ctx, "Arith.Add", make(chan int)))
	check("a plain handler error", c.Call(ctx, "V13.Plain", nil, nil), ferry.CodeUnknown, false)
	err = c.Call(ctx, "V13.Plain", nil, nil)
	assert.Equal(t, "ferry: unknown: plain cause", err.Error())
	err = c.Call(ctx, "V13.Ctx", nil, nil)
	check("a handler returning DeadlineExceeded", err, ferry.CodeDeadlineExceeded, false)
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	// Deadlines on both sides.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = c.Call(short, "Echo.Sleep", 5000, nil)
	check("deadline", err, ferry.CodeDeadlineExceeded, false)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	canceled, cancel2 := context.WithCancel(ctx)
	cancel2()
	err = c.Call(canceled, "Arith.Add", client.Params{1, 2}, &sum)
	check("canceled before sending", err, ferry.CodeCanceled, true)
	assert.ErrorIs(t, err, context.Canceled)
	_, err = client.Async[int](canceled, c, "Arith.Add", client.Params{1, 2}).Wait()
	check("Async canceled before sending", err, ferry.CodeCanceled, true)

	require.NoError(t, c.Close())
	err = c.Call(ctx, "Arith.Add", client.Params{1, 2}, &sum)
	check("after Close", err, ferry.CodeCanceled, true)
	assert.ErrorIs(t, err, ferry.ErrClosed)
	call = c.Go(ctx, "Arith.Add", client.Params{1, 2}, &sum)
	<-call.Done()
	assert.ErrorIs(t, call.Err(), ferry.ErrClosed)
	assert.True(t, ferry.NotExecuted(call.Err()))
	err = c.Notify(ctx, "Arith.Add", client.Params{1, 2})
	assert.ErrorIs(t, err, ferry.ErrClosed)
	_, err = client.Invoke[int](ctx, c, "Arith.Add", client.Params{1, 2})
	assert.ErrorIs(t, err, ferry.ErrClosed)
	_, err = c.NewStream(ctx, "Num.Double")
	assert.ErrorIs(t, err, ferry.ErrClosed)
}

// TestVreview13HealthOnTheWire checks health's doc against a plain
// MessagePack-RPC client: the argument is {"service": name} (or nothing:
// the whole server), the result {"status": s}, a name never set is
// UNKNOWN; arguments that do not fit are refused as for any method.
func TestVreview13HealthOnTheWire(t *testing.T) {
	s := newServer(t)
	hs := health.NewServer()
	require.NoError(t, hs.Register(s))
	hs.SetStatus("Orders", health.NotServing)
	c := dialTCP(t, s, client.WithPlainMsgpackRPC())
	ctx := t.Context()
	for _, tc := range []struct {
		args any
		want string
	}{
		{nil, "SERVING"},
		{map[string]string{"service": ""}, "SERVING"},
		{map[string]string{"service": "Orders"}, "NOT_SERVING"},
		{"Orders", "NOT_SERVING"},
		{map[string]string{"service": "Nope"}, "UNKNOWN"},
	} {
		var r map[string]any
		require.NoError(t, c.Call(ctx, health.Method, tc.args, &r), "%v", tc.args)
		assert.Equal(t, map[string]any{"status": tc.want}, r, "%v", tc.args)
	}
	for _, args := range []any{
		map[string]any{"service": 5},
		map[string]any{"svc": "Orders"},
		client.Params{"Orders", "extra"},
	} {
		var fe *ferry.Error
		err := c.Call(ctx, health.Method, args, nil)
		require.ErrorAs(t, err, &fe, "%v", args)
		assert.Contains(t, fe.Message, "Health.Check: ", "%v", args)
	}
	hs.Shutdown()
	hs.SetStatus("", health.Serving)
	st, err := health.Check(ctx, dialTCP(t, s), "")
	require.NoError(t, err)
	assert.Equal(t, health.NotServing, st, "a server going away stays NOT_SERVING")
}

// TestVreview13DescribeArgsTakenOrRefused: Introspect.Describe's arguments
// ({"method": NAME} or NAME) follow PROTOCOL.md 2.1 like any method's:
// a number is no name, and an extra param or a map with no known key is
// refused with invalid_argument (a map with no "method" got not_found,
// `no method ""`).
func TestVreview13DescribeArgsTakenOrRefused(t *testing.T) {
	s := newServer(t)
	require.NoError(t, introspect.Register(s))
	c := dialTCP(t, s)
	ctx := t.Context()
	for _, args := range []any{
		client.Params{"Arith.Add"},
		client.Params{map[string]any{"method": "Arith.Add"}},
		introspect.DescribeArgs{Method: "Arith.Add"},
		client.Params{[]string{"Arith.Add"}}, // a struct as the array of its fields
	} {
		var d introspect.Description
		if assert.NoError(t, c.Call(ctx, introspect.DescribeMethod, args, &d), "%#v", args) {
			assert.Equal(t, "Arith.Add", d.Name)
		}
	}
	for _, args := range []any{
		client.Params{5},
		client.Params{true},
		client.Params{map[string]any{"method": 5}},
		client.Params{map[string]any{"nope": "Arith.Add"}},
		client.Params{"Arith.Add", "extra"},
	} {
		var d introspect.Description
		err := c.Call(ctx, introspect.DescribeMethod, args, &d)
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%#v: %v (got %+v)", args, err, d)
	}
	err := c.Call(ctx, introspect.DescribeMethod, client.Params{map[string]any{"nope": "Arith.Add"}}, nil)
	assert.EqualError(t, err, `ferry: invalid_argument: Introspect.Describe: no field named "nope" (fields: method)`)
}

// TestVreview13MetadataBoundsSameOnAStream: metadata past 1,024 pairs
// (ferry.Metadata's doc) is refused with invalid_argument, not executed,
// whether the call is unary or a stream, and 1,024 pairs pass both.
func TestVreview13MetadataBoundsSameOnAStream(t *testing.T) {
	c := dialTCP(t, streamServer(t))
	md := func(n int) ferry.Metadata {
		m := ferry.Metadata{}
		for i := range n {
			m[fmt.Sprintf("k%d", i)] = "v"
		}
		return m
	}
	stream := func(m ferry.Metadata) error {
		st, err := client.OpenBidi[num, num](ferry.WithOutgoingMetadata(t.Context(), m), c, "Num.Double")
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Send(&num{1}); err != nil {
			return err
		}
		if _, err := st.Recv(); err != nil {
			return err
		}
		require.NoError(t, st.CloseSend())
		if _, err := st.Recv(); err != io.EOF {
			return err
		}
		return nil
	}
	ok := md(1024)
	require.NoError(t, c.Call(ferry.WithOutgoingMetadata(t.Context(), ok), "Arith.Add", client.Params{1, 2}, nil))
	require.NoError(t, stream(ok))
	bad := md(1025)
	unary := c.Call(ferry.WithOutgoingMetadata(t.Context(), bad), "Arith.Add", client.Params{1, 2}, nil)
	streamed := stream(bad)
	for name, err := range map[string]error{"unary": unary, "stream": streamed} {
		assert.Equal(t, ferry.CodeInvalidArgument, ferry.CodeOf(err), "%s: %v", name, err)
		assert.True(t, ferry.NotExecuted(err), "%s: %v", name, err)
	}
}

// TestVreview13PeerCallsLikeClientCalls checks server.Peer's doc: calls
// to the client's handlers go "with the same deadlines, cancellation,
// errors, metadata, interceptors and limits as calls in the other
// direction": arguments refused as PROTOCOL.md 2.1 says (the handler does
// not run), an unknown method unimplemented and not executed, a reply that
// does not fit internal, an expired context not executed, the deadline and
// metadata reaching the handler; over a Ferry session and over plain
// MessagePack-RPC alike (the latter without deadline or metadata on the
// wire).
func TestVreview13PeerCallsLikeClientCalls(t *testing.T) {
	for _, tr := range conduits {
		t.Run(tr.name, func(t *testing.T) {
			s, peers := peerServer(t)
			ran := make(chan Args, 16)
			got := make(chan context.Context, 1)
			c := tr.dial(t, s, client.WithHandlers(func(c *client.Client) error {
				if err := client.Handle(c, "Cli.Add", func(ctx context.Context, a *Args) (*int, error) {
					ran <- *a
					n := a.A + a.B
					return &n, nil
				}); err != nil {
					return err
				}
				return client.Handle(c, "Cli.Ctx", func(ctx context.Context, _ *struct{}) (*string, error) {
					got <- ctx
					w := "ok"
					return &w, nil
				})
			}))
			// A bare connection is a client's once its first byte arrived
			// (PROTOCOL.md 1): until then the server cannot tell it.
			require.NoError(t, c.Call(t.Context(), "Arith.Add", client.Params{1, 2}, nil))
			p := <-peers
			ctx := t.Context()

			var n int
			err := p.Call(ctx, "Cli.Add", client.Params{3.5, 4}, &n)
			var fe *ferry.Error
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "Cli.Add: argument 1 (A): want an integer, got 3.5", fe.Message)
			err = p.Call(ctx, "Cli.Add", client.Params{1, 2, 3}, &n)
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, "Cli.Add: takes at most 2 arguments (A, B), got 3", fe.Message)
			if !tr.plain {
				assert.Equal(t, ferry.CodeInvalidArgument, fe.Code)
				err = p.Call(ctx, "Cli.Nope", nil, nil)
				assert.Equal(t, ferry.CodeUnimplemented, ferry.CodeOf(err), "%v", err)
				assert.True(t, ferry.NotExecuted(err), "%v", err)
			}
			select {
			case a := <-ran:
				t.Fatalf("a refused call ran: %v", a)
			default:
			}

			var word bool
			err = p.Call(ctx, "Cli.Add", client.Params{1, 2}, &word)
			assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
			assert.False(t, ferry.NotExecuted(err))
			<-ran

			expired, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer cancel()
			err = p.Call(expired, "Cli.Add", client.Params{1, 2}, &n)
			assert.Equal(t, ferry.CodeDeadlineExceeded, ferry.CodeOf(err), "%v", err)
			assert.True(t, ferry.NotExecuted(err), "%v", err)

			dl := time.Now().Add(time.Minute)
			dctx, cancel2 := context.WithDeadline(ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"k": "v"}), dl)
			defer cancel2()
			var w string
			require.NoError(t, p.Call(dctx, "Cli.Ctx", nil, &w))
			hctx := <-got
			if !tr.plain {
				hdl, ok := hctx.Deadline()
				require.True(t, ok, "the deadline crosses the wire")
				assert.WithinDuration(t, dl, hdl, 5*time.Second)
				assert.Equal(t, "v", ferry.IncomingMetadata(hctx)["k"])
			}
			n = 0
			require.NoError(t, p.Call(ctx, "Cli.Add", client.Params{4.0, 3}, &n))
			assert.Equal(t, 7, n)
			<-ran
			sum, err := client.Invoke[int](ctx, p, "Cli.Add", Args{A: 1, B: 1})
			require.NoError(t, err)
			assert.Equal(t, 2, *sum)
			<-ran
		})
	}
}

// Args is the arguments of the client's Cli.Add.
type Args struct{ A, B int }

var _ ferry.Caller = (*server.Peer)(nil)

// TestVreview13StreamStatusLikeUnaryResponse: "The final status is encoded
// exactly as a unary call's response" (PROTOCOL.md 6): a result past the
// MaxMessageSize is replaced by resource_exhausted (the handler ran), an
// error's message is cut to 64 KiB ending with "…", and details past the
// metadata bounds are dropped while the code stays; a unary call and a
// stream give the same.
func TestVreview13StreamStatusLikeUnaryResponse(t *testing.T) {
	s := newServer(t)
	huge := strings.Repeat("x", 5<<20)
	long := strings.Repeat("y", 100<<10)
	fail := func() error {
		e := ferry.NewError(ferry.CodeAborted, long)
		for i := range 2000 {
			e = e.WithDetail(strings.Repeat("k", 8)+string(rune('a'+i%26))+strings.Repeat("z", i%7)+string(rune(i)), "v")
		}
		return e
	}
	require.NoError(t, server.Handle(s, "V13.Huge", func(ctx context.Context, _ *struct{}) (*string, error) { return &huge, nil }))
	require.NoError(t, server.Handle(s, "V13.Fail", func(ctx context.Context, _ *struct{}) (*string, error) { return nil, fail() }))
	require.NoError(t, s.HandleStream("V13.HugeStream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return huge, nil }))
	require.NoError(t, s.HandleStream("V13.FailStream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { return nil, fail() }))
	c := dialTCP(t, s)
	ctx := t.Context()
	stream := func(method string) error {
		st, err := c.NewStream(ctx, method)
		require.NoError(t, err)
		defer st.Close()
		require.NoError(t, st.CloseSend())
		err = st.Recv(nil)
		if err == io.EOF {
			var r string
			err = st.Result(&r)
		}
		return err
	}
	for _, pair := range [][2]string{{"V13.Huge", "V13.HugeStream"}, {"V13.Fail", "V13.FailStream"}} {
		unary := c.Call(ctx, pair[0], nil, new(string))
		streamed := stream(pair[1])
		var fu, fs *ferry.Error
		require.ErrorAs(t, unary, &fu, pair[0])
		require.ErrorAs(t, streamed, &fs, pair[1])
		assert.Equal(t, fu.Code, fs.Code, "%s: %v / %v", pair[0], unary, streamed)
		assert.Equal(t, ferry.NotExecuted(unary), ferry.NotExecuted(streamed), pair[0])
		assert.Equal(t, len(fu.Details), len(fs.Details), pair[0])
		if pair[0] == "V13.Fail" {
			assert.Equal(t, fu.Message, fs.Message)
		} else {
			assert.Equal(t, strings.Replace(fu.Message, "reply", "result", 1), fs.Message)
		}
	}
	err := c.Call(ctx, "V13.Huge", nil, new(string))
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	var fe *ferry.Error
	require.ErrorAs(t, c.Call(ctx, "V13.Fail", nil, nil), &fe)
	assert.Equal(t, ferry.CodeAborted, fe.Code)
	assert.True(t, strings.HasSuffix(fe.Message, "…"))
	assert.LessOrEqual(t, len(fe.Message), 64<<10)
	assert.Empty(t, fe.Details, "details past 1,024 pairs are dropped")
}
