// Package ferrysys runs Ferry: server.New and Serve on a TCP listener,
// client.Dial, with default options. "ferry" makes blocking Calls, one per
// worker goroutine; "ferry-go" keeps N calls in flight with Go from a
// single goroutine. "ferry" also runs the stream scenario on typed
// bidirectional streams (server.HandleBidi, client.OpenBidi).
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
	echoMethod   = "Bench.Echo"
	bulkMethod   = "Bench.Bulk"
	streamMethod = "Bench.EchoStream"
)

type system struct {
	name  string
	async bool
}

// Sync returns Ferry with blocking Call ("ferry").
func Sync() bench.System { return &system{name: "ferry"} }

// Async returns Ferry with Go, many calls in flight from one goroutine
// ("ferry-go").
func Async() bench.System { return &system{name: "ferry-go", async: true} }

func (sys *system) Name() string { return sys.name }

type srv struct {
	sys    *system
	s      *server.Server
	addr   string
	served chan error
}

func (sys *system) Listen() (bench.Server, error) {
	s := server.New()
	err := errors.Join(
		server.Handle(s, echoMethod, func(_ context.Context, m *message.Message) (*message.Message, error) { return m, nil }),
		server.Handle(s, bulkMethod, func(_ context.Context, b *[]byte) (*[]byte, error) { return b, nil }),
		server.HandleBidi(s, streamMethod, echoStream),
	)
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
	c, err := client.Dial(ctx, sv.addr)
	if err != nil {
		return nil, err
	}
	if sv.sys.async {
		return asyncClient{c}, nil
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
	reply := new(message.Message)
	return call{echoMethod, message.New(), reply, func() error { return bench.CheckMessage(reply) }}
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
func (k *stream) Check() error     { return bench.CheckMessage(k.last) }
func (k *stream) MessageSize() int { return len(bench.EncodedMessage()) }

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
