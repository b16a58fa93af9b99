// Package grpcsys runs grpc-go unary calls with default options over one
// ClientConn: "grpc" with the protobuf code generated from
// proto/bench.proto, and "grpc-raw" with a registered codec that passes
// []byte through, gRPC's own ceiling. Both also run the stream scenario
// on bidirectional streams: the generated EchoStream, and a hand-written
// raw stream with the same codec.
//
// Each system keeps its natural encoding for every record: "grpc-raw"
// passes the record's MessagePack bytes (as_array ones for
// message.AsArray); "grpc" sends protobuf, which has no as_array form, so
// for message.AsArray it sends the same protobuf Message as for
// message.Default, and for message.NoStrings the Numbers message.
package grpcsys

import (
	"context"
	"errors"
	"io"
	"net"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/proto/benchpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

type system struct {
	name string
	raw  bool
}

// Proto returns grpc-go with protobuf ("grpc").
func Proto() bench.System { return &system{name: "grpc"} }

// Raw returns grpc-go with the raw-bytes codec ("grpc-raw").
func Raw() bench.System { return &system{name: "grpc-raw", raw: true} }

func (sys *system) Name() string { return sys.name }

func protoSize(m proto.Message) int { return proto.Size(m) }

type echoServer struct {
	benchpb.UnimplementedBenchServer
}

func (echoServer) Echo(_ context.Context, m *benchpb.Message) (*benchpb.Message, error) {
	return m, nil
}

func (echoServer) EchoNumbers(_ context.Context, m *benchpb.Numbers) (*benchpb.Numbers, error) {
	return m, nil
}

// EchoStream sends back every message of the stream until the caller
// closes its side.
func (echoServer) EchoStream(st benchpb.Bench_EchoStreamServer) error {
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

type srv struct {
	sys    *system
	s      *grpc.Server
	addr   string
	served chan error
}

func (sys *system) Listen() (bench.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := grpc.NewServer()
	benchpb.RegisterBenchServer(s, echoServer{})
	s.RegisterService(&rawServiceDesc, nil)
	sv := &srv{sys: sys, s: s, addr: l.Addr().String(), served: make(chan error, 1)}
	go func() { sv.served <- s.Serve(l) }()
	return sv, nil
}

func (sv *srv) Dial(ctx context.Context) (bench.Client, error) {
	cc, err := grpc.NewClient("passthrough:///"+sv.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	return &conn{sys: sv.sys, cc: cc}, nil
}

func (sv *srv) Close() error {
	sv.s.Stop()
	if err := <-sv.served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

type conn struct {
	sys *system
	cc  *grpc.ClientConn
}

func (c *conn) Close() error { return c.cc.Close() }

func (c *conn) NewCaller(w bench.Workload) (bench.Caller, error) {
	if c.sys.raw {
		method := rawEcho
		if w.Bulk > 0 {
			method = rawBulk
		}
		opts := []grpc.CallOption{grpc.CallContentSubtype(rawCodecName)}
		return &rawCaller{cc: c.cc, w: w, method: method, payload: bench.RawPayload(w), opts: opts}, nil
	}
	switch {
	case w.Bulk > 0:
		return nil, bench.ErrUnsupported
	case w.Message == message.NoStrings:
		return &numbersCaller{c: benchpb.NewBenchClient(c.cc), req: numbersToProto(message.NewNumbers())}, nil
	}
	return &protoCaller{c: benchpb.NewBenchClient(c.cc), req: toProto(message.New())}, nil
}

// protoCaller echoes the protobuf Message: for message.Default, and for
// message.AsArray, which protobuf has no other form of.
type protoCaller struct {
	c     benchpb.BenchClient
	req   *benchpb.Message
	reply *benchpb.Message
}

func (k *protoCaller) Call(ctx context.Context) error {
	r, err := k.c.Echo(ctx, k.req)
	k.reply = r
	return err
}

func (k *protoCaller) Check() error {
	if k.reply == nil {
		return bench.CheckMessage(message.Default, nil)
	}
	return bench.CheckMessage(message.Default, fromProto(k.reply))
}

// numbersCaller echoes the protobuf Numbers, message.NoStrings.
type numbersCaller struct {
	c     benchpb.BenchClient
	req   *benchpb.Numbers
	reply *benchpb.Numbers
}

func (k *numbersCaller) Call(ctx context.Context) error {
	r, err := k.c.EchoNumbers(ctx, k.req)
	k.reply = r
	return err
}

func (k *numbersCaller) Check() error {
	if k.reply == nil {
		return bench.CheckMessage(message.NoStrings, nil)
	}
	return bench.CheckMessage(message.NoStrings, numbersFromProto(k.reply))
}

type rawCaller struct {
	cc      *grpc.ClientConn
	w       bench.Workload
	method  string
	payload []byte
	reply   []byte
	opts    []grpc.CallOption
}

func (k *rawCaller) Call(ctx context.Context) error {
	return k.cc.Invoke(ctx, k.method, k.payload, &k.reply, k.opts...)
}

func (k *rawCaller) Check() error { return bench.CheckRaw(k.w, k.reply) }

func (c *conn) OpenStream(ctx context.Context) (bench.Stream, error) {
	ctx, cancel := context.WithCancel(ctx)
	if c.sys.raw {
		st, err := c.cc.NewStream(ctx, &rawStreamDesc, rawEchoStream, grpc.CallContentSubtype(rawCodecName))
		if err != nil {
			cancel()
			return nil, err
		}
		return &rawStream{st: st, cancel: cancel, payload: bench.EncodedMessage(message.Default)}, nil
	}
	st, err := benchpb.NewBenchClient(c.cc).EchoStream(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	return &protoStream{st: st, cancel: cancel, msg: toProto(message.New())}, nil
}

// protoStream sends msg and decodes every echo into a new message, as the
// generated Recv does.
type protoStream struct {
	st     benchpb.Bench_EchoStreamClient
	cancel context.CancelFunc
	msg    *benchpb.Message
	last   *benchpb.Message
}

func (k *protoStream) Send() error      { return k.st.Send(k.msg) }
func (k *protoStream) CloseSend() error { return k.st.CloseSend() }
func (k *protoStream) MessageSize() int { return protoSize(k.msg) }

// Close cancels the stream's context, which releases it if the server has
// not already ended it.
func (k *protoStream) Close() error { k.cancel(); return nil }

func (k *protoStream) Recv() error {
	m, err := k.st.Recv()
	if err != nil {
		return err
	}
	k.last = m
	return nil
}

func (k *protoStream) Check() error {
	if k.last == nil {
		return bench.CheckMessage(message.Default, nil)
	}
	return bench.CheckMessage(message.Default, fromProto(k.last))
}

// rawStream sends the message's MessagePack bytes and keeps every echo's
// bytes without decoding them, like rawCaller.
type rawStream struct {
	st      grpc.ClientStream
	cancel  context.CancelFunc
	payload []byte
	last    []byte
}

func (k *rawStream) Send() error      { return k.st.SendMsg(k.payload) }
func (k *rawStream) CloseSend() error { return k.st.CloseSend() }
func (k *rawStream) Recv() error      { return k.st.RecvMsg(&k.last) }
func (k *rawStream) Check() error     { return bench.CheckRaw(bench.Workload{}, k.last) }
func (k *rawStream) MessageSize() int { return len(k.payload) }

// Close cancels the stream's context, which releases it if the server has
// not already ended it.
func (k *rawStream) Close() error { k.cancel(); return nil }
