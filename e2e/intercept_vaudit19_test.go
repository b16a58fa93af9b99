package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outcomes records what interceptors saw next return.
type outcomes chan ferry.Code

// next returns the next outcome recorded, or fails the test after 5 s.
func (o outcomes) next(t *testing.T) ferry.Code {
	t.Helper()
	select {
	case c := <-o:
		return c
	case <-time.After(5 * time.Second):
		t.Fatal("no interceptor saw the outcome")
		return 0
	}
}

func (o outcomes) unary(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
	reply, err := next(ctx, args)
	o <- ferry.CodeOf(err)
	return reply, err
}

func (o outcomes) stream(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
	res, err := next(ctx, st)
	o <- ferry.CodeOf(err)
	return res, err
}

// TestVaudit19InterceptorsSeeAPanic: "panics are contained" (README), and
// an interceptor wraps every call (ferry.ServerInterceptor,
// ferry.StreamServerInterceptor): a handler that panics is a call that
// failed with internal, and next returns that failure to every
// interceptor around it, on a server's unary and streaming calls and on
// a client's handlers its server calls back (client.WithServerInterceptors,
// WithStreamServerInterceptors). A panic that unwound through the
// interceptors instead left otel's span unended and its duration
// unrecorded.
func TestVaudit19InterceptorsSeeAPanic(t *testing.T) {
	seen := make(outcomes, 8)
	s := newServer(t, server.WithInterceptors(seen.unary), server.WithStreamInterceptors(seen.stream))
	require.NoError(t, server.Handle(s, "P.Unary", func(ctx context.Context, _ *struct{}) (*int, error) { panic("boom") }))
	require.NoError(t, s.HandleStream("P.Stream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) { panic("boom") }))
	require.NoError(t, server.Handle(s, "P.CallBack", func(ctx context.Context, _ *struct{}) (*int, error) {
		p := server.PeerFromContext(ctx)
		err := p.Call(ctx, "C.Unary", nil, nil)
		st, serr := p.NewStream(ctx, "C.Stream")
		if serr == nil {
			defer st.Close()
			serr = st.Recv(nil)
		}
		codes := []ferry.Code{ferry.CodeOf(err), ferry.CodeOf(serr)}
		n := int(codes[0])*100 + int(codes[1])
		return &n, nil
	}))
	c := dialTCP(t, s, client.WithServerInterceptors(seen.unary), client.WithStreamServerInterceptors(seen.stream),
		client.WithHandlers(func(c *client.Client) error {
			if err := client.Handle(c, "C.Unary", func(ctx context.Context, _ *struct{}) (*int, error) { panic("boom") }); err != nil {
				return err
			}
			return c.HandleStream("C.Stream", ferry.BidiStreaming, func(ctx context.Context, st ferry.ServerStream) (any, error) { panic("boom") })
		}))

	err := c.Call(t.Context(), "P.Unary", nil, nil)
	require.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.Equal(t, ferry.CodeInternal, seen.next(t), "the server's interceptor, on a unary call")

	st, err := c.NewStream(t.Context(), "P.Stream")
	require.NoError(t, err)
	err = st.Recv(nil)
	require.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	require.NoError(t, st.Close())
	assert.Equal(t, ferry.CodeInternal, seen.next(t), "the server's stream interceptor")

	var n int
	require.NoError(t, c.Call(t.Context(), "P.CallBack", nil, &n))
	assert.Equal(t, int(ferry.CodeInternal)*101, n, "the peer's calls failed with internal")
	assert.Equal(t, ferry.CodeInternal, seen.next(t), "the client's interceptor, on a call back")
	assert.Equal(t, ferry.CodeInternal, seen.next(t), "the client's stream interceptor, on a stream back")
	assert.Equal(t, ferry.Code(0), seen.next(t), "the server's interceptor, on P.CallBack")
}

// seenCall is what a client interceptor saw of one call.
type seenCall struct {
	method      string
	notify      bool
	code        ferry.Code
	notExecuted bool
}

// callRecorder is a client interceptor that records each call's outcome.
type callRecorder chan seenCall

func (r callRecorder) intercept(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
	err := next(ctx, info, args, reply)
	r <- seenCall{info.Method, info.Notify, ferry.CodeOf(err), ferry.NotExecuted(err)}
	return err
}

// take returns the calls recorded, n of them, in a set keyed by method.
func (r callRecorder) take(t *testing.T, n int) map[string]seenCall {
	t.Helper()
	got := map[string]seenCall{}
	for range n {
		select {
		case s := <-r:
			got[s.method] = s
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d calls seen: %v", len(got), n, got)
		}
	}
	return got
}

// TestVaudit19InterceptorsOnEveryCallKind: client interceptors wrap Call,
// Go and Notify, a server's calls back through a Peer from a connect hook
// (server.WithClientInterceptors) as well as a client's, and each sees the
// outcome the caller gets: a method nobody registered is unimplemented
// and not executed, a notification succeeds once sent.
func TestVaudit19InterceptorsOnEveryCallKind(t *testing.T) {
	fromServer, fromClient := make(callRecorder, 16), make(callRecorder, 16)
	hooked := make(chan map[string]error, 1)
	s := newServer(t, server.WithClientInterceptors(fromServer.intercept), server.WithConnHooks(func(p *server.Peer) {
		ctx := context.Background()
		errs := map[string]error{}
		var out string
		errs["C.Echo"] = p.Call(ctx, "C.Echo", "x", &out)
		g := p.Go(ctx, "C.Go", "y", &out)
		<-g.Done()
		errs["C.Go"] = g.Err()
		errs["C.Note"] = p.Notify(ctx, "C.Note", "z")
		errs["C.Missing"] = p.Call(ctx, "C.Missing", nil, nil)
		hooked <- errs
	}, nil))
	echo := func(ctx context.Context, s *string) (*string, error) { return s, nil }
	c := dialTCP(t, s, client.WithInterceptors(fromClient.intercept), client.WithHandlers(func(c *client.Client) error {
		for _, m := range []string{"C.Echo", "C.Go", "C.Note"} {
			if err := client.Handle(c, m, echo); err != nil {
				return err
			}
		}
		return nil
	}))

	select {
	case errs := <-hooked:
		for m, err := range errs {
			if m == "C.Missing" {
				assert.True(t, ferry.NotExecuted(err), "%v", err)
				continue
			}
			assert.NoError(t, err, m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the connect hook did not finish")
	}
	got := fromServer.take(t, 4)
	assert.Equal(t, seenCall{"C.Echo", false, 0, false}, got["C.Echo"])
	assert.Equal(t, seenCall{"C.Go", false, 0, false}, got["C.Go"])
	assert.Equal(t, seenCall{"C.Note", true, 0, false}, got["C.Note"])
	assert.Equal(t, seenCall{"C.Missing", false, ferry.CodeUnimplemented, true}, got["C.Missing"])

	ctx := t.Context()
	var sum int64
	require.NoError(t, c.Call(ctx, "Arith.Add", client.Params{1, 2}, &sum))
	g := c.Go(ctx, "Arith.Add", client.Params{1, 2}, &sum)
	<-g.Done()
	require.NoError(t, g.Err())
	require.NoError(t, c.Notify(ctx, "Arith.Add", client.Params{1, 2}))
	assert.Error(t, c.Call(ctx, "Nope.Nope", nil, nil))
	got = fromClient.take(t, 4)
	assert.Equal(t, seenCall{"Arith.Add", true, 0, false}, got["Arith.Add"], "the last of Call, Go, Notify")
	assert.Equal(t, seenCall{"Nope.Nope", false, ferry.CodeUnimplemented, true}, got["Nope.Nope"])

	require.NoError(t, c.Close())
	assert.Error(t, c.Notify(ctx, "Arith.Add", client.Params{1, 2}))
	after := fromClient.take(t, 1)["Arith.Add"]
	assert.True(t, after.notExecuted, "a notification on a closed client: %+v", after)
}

// TestVaudit19ReplyEncodedAfterTheInterceptors pins what the
// ferry.ServerInterceptor doc says of a reply: it is encoded after the
// interceptors return, so a reply past the caller's message limit, or one
// that cannot be encoded, fails the call at the caller (resource_exhausted,
// internal) while the interceptors saw the handler succeed.
func TestVaudit19ReplyEncodedAfterTheInterceptors(t *testing.T) {
	seen := make(outcomes, 2)
	s := newServer(t, server.WithInterceptors(seen.unary))
	require.NoError(t, server.Handle(s, "P.Big", func(ctx context.Context, _ *struct{}) (*[]byte, error) {
		b := make([]byte, 2<<20)
		return &b, nil
	}))
	require.NoError(t, server.Handle(s, "P.Chan", func(ctx context.Context, _ *struct{}) (*chan int, error) {
		c := make(chan int)
		return &c, nil
	}))
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = 1 << 20
	c := dialTCP(t, s, client.WithConfig(cfg))
	err := c.Call(t.Context(), "P.Big", nil, nil)
	assert.Equal(t, ferry.CodeResourceExhausted, ferry.CodeOf(err), "%v", err)
	assert.Equal(t, ferry.Code(0), seen.next(t))
	err = c.Call(t.Context(), "P.Chan", nil, nil)
	assert.Equal(t, ferry.CodeInternal, ferry.CodeOf(err), "%v", err)
	assert.Equal(t, ferry.Code(0), seen.next(t))
}
