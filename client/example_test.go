package client_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

type Args struct{ A, B int }

type Arith struct{}

func (Arith) Add(ctx context.Context, args Args, sum *int) error {
	*sum = args.A + args.B
	return nil
}

func (Arith) Div(ctx context.Context, args Args, q *int) error {
	if args.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}
	*q = args.A / args.B
	return nil
}

// pipeClient serves Arith over an in-memory pipe and returns a client of it.
func pipeClient() (*client.Client, func()) {
	s := server.New()
	if err := s.Register(Arith{}); err != nil {
		panic(err)
	}
	cc, sc := net.Pipe()
	go s.ServeConn(sc)
	c, err := client.New(cc)
	if err != nil {
		panic(err)
	}
	return c, func() { c.Close(); s.Close() }
}

func ExampleClient_Call() {
	c, done := pipeClient()
	defer done()
	var sum int
	err := c.Call(context.Background(), "Arith.Add", Args{3, 4}, &sum)
	fmt.Println(sum, err)
	// Output: 7 <nil>
}

func ExampleClient_Go() {
	c, done := pipeClient()
	defer done()
	calls := make([]*ferry.Call, 3)
	for i := range calls {
		calls[i] = c.Go(context.Background(), "Arith.Add", Args{i, 10}, new(int))
	}
	for _, call := range calls {
		<-call.Done()
		fmt.Println(*call.Reply.(*int), call.Err())
	}
	// Output:
	// 10 <nil>
	// 11 <nil>
	// 12 <nil>
}

func ExampleInvoke() {
	c, done := pipeClient()
	defer done()
	q, err := client.Invoke[int](context.Background(), c, "Arith.Div", Args{7, 0})
	var fe *ferry.Error
	if errors.As(err, &fe) {
		fmt.Println(q, fe.Code, fe.Message)
	}
	// Output: <nil> invalid_argument division by zero
}

func ExampleClient_Call_deadline() {
	c, done := pipeClient()
	defer done()
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := c.Call(ctx, "Arith.Add", Args{1, 2}, new(int))
	fmt.Println(errors.Is(err, context.DeadlineExceeded), ferry.NotExecuted(err))
	// Output: true true
}
