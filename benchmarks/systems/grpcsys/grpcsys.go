// Package grpcsys runs grpc-go unary calls with default options over one
// ClientConn: "grpc" with the protobuf code generated from
// proto/bench.proto, and "grpc-raw" with a registered codec that passes
// []byte through, gRPC's own ceiling.
package grpcsys

import (
	"context"
	"errors"
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
	if w.Bulk > 0 {
		return nil, bench.ErrUnsupported
	}
	return &protoCaller{c: benchpb.NewBenchClient(c.cc), req: toProto(message.New())}, nil
}

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
		return bench.CheckMessage(nil)
	}
	return bench.CheckMessage(fromProto(k.reply))
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
