package server_test

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// Args are the arguments of Arith's methods; a plain MessagePack-RPC
// client sends them as [a, b].
type Args struct{ A, B int }

// Arith is served net/rpc style: every exported method of the shape
// M(ctx, args, *reply) error becomes "Arith.M".
type Arith struct{}

// Add stores A+B in sum.
func (Arith) Add(ctx context.Context, args Args, sum *int) error {
	*sum = args.A + args.B
	return nil
}

// Div stores A/B in q, and refuses a zero divisor with a coded error.
func (Arith) Div(ctx context.Context, args Args, q *int) error {
	if args.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}
	*q = args.A / args.B
	return nil
}

// overPipe serves s on one end of an in-memory pipe and returns a client
// on the other, and a function that closes both.
func overPipe(s *server.Server) (*client.Client, func()) {
	cc, sc := net.Pipe()
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.ServeConn(sc)
	}()
	c, err := client.New(cc)
	if err != nil {
		panic(err)
	}
	return c, func() {
		c.Close()
		s.Close()
		<-served
	}
}

func ExampleServer_Register() {
	s := server.New()
	if err := s.Register(Arith{}); err != nil {
		fmt.Println(err)
		return
	}
	c, done := overPipe(s)
	defer done()

	var sum int
	err := c.Call(context.Background(), "Arith.Add", Args{A: 3, B: 4}, &sum)
	fmt.Println(sum, err)

	var q int
	err = c.Call(context.Background(), "Arith.Div", Args{A: 1, B: 0}, &q)
	fmt.Println(ferry.CodeOf(err), err)
	// Output:
	// 7 <nil>
	// invalid_argument ferry: invalid_argument: division by zero
}

// A method that does not fit the net/rpc shape is an error naming it,
// never skipped silently.
func ExampleServer_Register_refused() {
	s := server.New()
	err := s.Register(&struct{ Arith }{})
	fmt.Println(err)
	err = s.RegisterName("Calc", badService{})
	fmt.Println(err)
	// Output:
	// ferry: receiver of type *struct { server_test.Arith } has no name; use RegisterName
	// ferry: Calc: method Sum must return exactly error
}

type badService struct{}

// Sum has a reply but returns it instead of an error.
func (badService) Sum(args Args, reply *int) int { return args.A + args.B }

func ExampleHandle() {
	type Greeting struct{ Name string }
	type Reply struct{ Text string }

	s := server.New()
	err := server.Handle(s, "Greeter.Hello", func(ctx context.Context, g *Greeting) (*Reply, error) {
		return &Reply{Text: "hello, " + g.Name}, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, done := overPipe(s)
	defer done()

	var r Reply
	err = c.Call(context.Background(), "Greeter.Hello", Greeting{Name: "ferry"}, &r)
	fmt.Println(r.Text, err)
	// Output: hello, ferry <nil>
}

// Serve accepts connections until Shutdown, which lets running calls
// finish first.
func ExampleServer_Serve() {
	s := server.New()
	if err := s.Register(Arith{}); err != nil {
		fmt.Println(err)
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()

	c, err := client.Dial(context.Background(), l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum int
	err = c.Call(context.Background(), "Arith.Add", Args{A: 20, B: 22}, &sum)
	fmt.Println(sum, err)

	c.Close()
	fmt.Println(s.Shutdown(context.Background()))
	fmt.Println(errors.Is(<-served, server.ErrServerClosed))
	// Output:
	// 42 <nil>
	// <nil>
	// true
}

// Interceptors wrap every call after its arguments are decoded, the first
// outermost.
func ExampleWithInterceptors() {
	logCalls := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		reply, err := next(ctx, args)
		fmt.Printf("%s(%v) err=%v\n", info.Method, args, err)
		return reply, err
	}
	s := server.New(server.WithInterceptors(logCalls))
	if err := s.Register(Arith{}); err != nil {
		fmt.Println(err)
		return
	}
	c, done := overPipe(s)
	defer done()

	var sum int
	_ = c.Call(context.Background(), "Arith.Add", Args{A: 1, B: 2}, &sum)
	_ = c.Call(context.Background(), "Arith.Div", Args{A: 1}, &sum)
	// Output:
	// Arith.Add(&{1 2}) err=<nil>
	// Arith.Div(&{1 0}) err=ferry: invalid_argument: division by zero
}

// A handler finds the connection it serves, and the caller's metadata,
// in its context.
func ExamplePeerFromContext() {
	s := server.New()
	err := server.Handle(s, "Who.Am", func(ctx context.Context, _ *struct{}) (*string, error) {
		p := server.PeerFromContext(ctx)
		md := ferry.IncomingMetadata(ctx)
		reply := fmt.Sprintf("from %s, tenant %s", p.RemoteAddr(), md["tenant"])
		return &reply, nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	c, done := overPipe(s)
	defer done()

	ctx := ferry.WithOutgoingMetadata(context.Background(), ferry.Metadata{"tenant": "blue"})
	var reply string
	err = c.Call(ctx, "Who.Am", nil, &reply)
	fmt.Println(reply, err)
	// Output: from pipe, tenant blue <nil>
}
