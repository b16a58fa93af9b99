// Package ferrysys runs Ferry: server.New and Serve on a TCP listener,
// client.Dial, with default options. "ferry" registers typed handlers
// (server.Handle) and makes blocking Calls, one per worker goroutine;
// "ferry-go" runs the same server and keeps N calls in flight with Go from
// a single goroutine; "ferry-reflect" registers the same echoes as the
// net/rpc-style methods of a receiver (Server.RegisterName), dispatched by
// reflection, and makes blocking Calls; "ferry-plain" runs ferry's server
// and makes the same blocking Calls from a client that speaks bare
// MessagePack-RPC (client.WithPlainMsgpackRPC): Ferry without yamux.
// "ferry" also runs the stream scenario on typed bidirectional streams
// (server.HandleBidi, client.OpenBidi).
package ferrysys

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// Method names the server registers.
const (
	bulkMethod   = "Bench.Bulk"
	streamMethod = "Bench.EchoStream"
)

// echoMethods name the echo of each record.
var echoMethods = map[message.Kind]string{
	message.Default:   "Bench.Echo",
	message.AsArray:   "Bench.EchoArray",
	message.NoStrings: "Bench.EchoNumbers",
}

type system struct {
	name    string
	async   bool
	reflect bool
	plain   bool
}

// Plain returns Ferry with typed handlers and blocking Call, the client
// speaking bare MessagePack-RPC (client.WithPlainMsgpackRPC) to the same
// server: Ferry's engine and codec without yamux ("ferry-plain").
func Plain() bench.System { return &system{name: "ferry-plain", plain: true} }

// Sync returns Ferry with typed handlers and blocking Call ("ferry").
func Sync() bench.System { return &system{name: "ferry"} }

// Async returns Ferry with typed handlers and Go, many calls in flight
// from one goroutine ("ferry-go").
func Async() bench.System { return &system{name: "ferry-go", async: true} }

// Reflect returns Ferry with the echoes registered as the methods of a
// receiver, dispatched by reflection, and blocking Call
// ("ferry-reflect"). It runs the echo of every record, not the bulk or
// stream scenarios.
func Reflect() bench.System { return &system{name: "ferry-reflect", reflect: true} }

func (sys *system) Name() string { return sys.name }

// VariantOf says that ferry-reflect's connections are ferry's: only the
// server's dispatch differs.
func (sys *system) VariantOf() string {
	if sys.reflect {
		return "ferry"
	}
	return ""
}

type srv struct {
	sys    *system
	s      *server.Server
	addr   string
	served chan error
}

func (sys *system) Listen() (bench.Server, error) {
	s := server.New()
	var err error
	if sys.reflect {
		err = s.RegisterName("Bench", Reflected{})
	} else {
		err = errors.Join(
			server.Handle(s, echoMethods[message.Default], echo[message.Message]),
			server.Handle(s, echoMethods[message.AsArray], echo[message.Array]),
			server.Handle(s, echoMethods[message.NoStrings], echo[message.Numbers]),
			server.Handle(s, bulkMethod, echo[[]byte]),
			server.HandleBidi(s, streamMethod, echoStream),
		)
	}
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sv := &srv{sys: sys, s: s, addr: l.Addr().String(), served: make(chan error, 1)}
	go func() { sv.served <- s.Serve(l) }()
	return sv, nil
}

// echo is the typed handler of every unary echo.
func echo[T any](_ context.Context, m *T) (*T, error) { return m, nil }

// Reflected is ferry-reflect's receiver: net/rpc-style methods that
// Server.RegisterName publishes as "Bench.Echo", "Bench.EchoArray" and
// "Bench.EchoNumbers".
type Reflected struct{}

// Echo returns the default record it was sent.
func (Reflected) Echo(_ context.Context, args *message.Message, reply *message.Message) error {
	*reply = *args
	return nil
}

// EchoArray returns the as_array record it was sent.
func (Reflected) EchoArray(_ context.Context, args *message.Array, reply *message.Array) error {
	*reply = *args
	return nil
}

// EchoNumbers returns the string-free record it was sent.
func (Reflected) EchoNumbers(_ context.Context, args *message.Numbers, reply *message.Numbers) error {
	*reply = *args
	return nil
}

// echoStream sends back every message of the stream until the caller
// closes its side.
func echoStream(_ context.Context, st *server.BidiStream[message.Message, message.Message]) error {
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
}

func (sv *srv) Dial(ctx context.Context) (bench.Client, error) {
	var opts []client.Option
	if sv.sys.plain {
		opts = append(opts, client.WithPlainMsgpackRPC())
	}
	c, err := client.Dial(ctx, sv.addr, opts...)
	if err != nil {
		return nil, err
	}
	switch {
	case sv.sys.async:
		return asyncClient{c}, nil
	case sv.sys.reflect:
		return reflectClient{c}, nil
	case sv.sys.plain:
		return plainClient{c}, nil
	}
	return syncClient{c}, nil
}

func (sv *srv) Close() error {
	err := sv.s.Close()
	if serr := <-sv.served; !errors.Is(serr, server.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

// call is what one call sends and where its reply goes.
type call struct {
	method string
	args   any
	reply  any
	check  func() error
}

func newCall(w bench.Workload) call {
	if w.Bulk > 0 {
		reply := new([]byte)
		return call{bulkMethod, bench.BulkPayload(w.Bulk), reply, func() error { return bench.CheckRaw(w, *reply) }}
	}
	reply := w.Message.Zero()
	return call{echoMethods[w.Message], w.Message.New(), reply, func() error { return bench.CheckMessage(w.Message, reply) }}
}

// reflectClient is ferry-reflect's client: blocking calls of the echoes,
// no bulk method and no streams on its server.
type reflectClient struct{ c *client.Client }

func (r reflectClient) Close() error { return r.c.Close() }

func (r reflectClient) NewCaller(w bench.Workload) (bench.Caller, error) {
	if w.Bulk > 0 {
		return nil, bench.ErrUnsupported
	}
	return &caller{c: r.c, call: newCall(w)}, nil
}

// plainClient is ferry-plain's client: blocking calls over bare
// MessagePack-RPC, which has no streams.
type plainClient struct{ c *client.Client }

func (p plainClient) Close() error { return p.c.Close() }

func (p plainClient) NewCaller(w bench.Workload) (bench.Caller, error) {
	return &caller{c: p.c, call: newCall(w)}, nil
}

type syncClient struct{ c *client.Client }

func (s syncClient) Close() error { return s.c.Close() }

func (s syncClient) NewCaller(w bench.Workload) (bench.Caller, error) {
	return &caller{c: s.c, call: newCall(w)}, nil
}

func (s syncClient) OpenStream(ctx context.Context) (bench.Stream, error) {
	st, err := client.OpenBidi[message.Message, message.Message](ctx, s.c, streamMethod)
	if err != nil {
		return nil, err
	}
	return &stream{st: st, msg: message.New()}, nil
}

// stream sends msg and decodes every echo into a new message, as
// BidiStream.Recv does.
type stream struct {
	st   *client.BidiStream[message.Message, message.Message]
	msg  *message.Message
	last *message.Message
}

func (k *stream) Send() error      { return k.st.Send(k.msg) }
func (k *stream) CloseSend() error { return k.st.CloseSend() }
func (k *stream) Close() error     { return k.st.Close() }
func (k *stream) Check() error     { return bench.CheckMessage(message.Default, k.last) }
func (k *stream) MessageSize() int { return len(bench.EncodedMessage(message.Default)) }

func (k *stream) Recv() error {
	m, err := k.st.Recv()
	if err != nil {
		return err
	}
	k.last = m
	return nil
}

type caller struct {
	c *client.Client
	call
}

func (k *caller) Call(ctx context.Context) error {
	return k.c.Call(ctx, k.method, k.args, k.reply)
}

func (k *caller) Check() error { return k.check() }

type asyncClient struct{ c *client.Client }

func (a asyncClient) Close() error { return a.c.Close() }

func (a asyncClient) NewPipeline(w bench.Workload, depth int) (bench.Pipeline, error) {
	p := &pipeline{c: a.c, calls: make([]call, depth), inflight: make([]*ferry.Call, depth)}
	for i := range p.calls {
		p.calls[i] = newCall(w)
	}
	return p, nil
}

type pipeline struct {
	c        *client.Client
	calls    []call
	inflight []*ferry.Call
}

func (p *pipeline) Start(ctx context.Context, slot int) {
	k := p.calls[slot]
	p.inflight[slot] = p.c.Go(ctx, k.method, k.args, k.reply)
}

func (p *pipeline) Wait(slot int) error { return p.inflight[slot].Wait() }

func (p *pipeline) Check(slot int) error { return p.calls[slot].check() }
