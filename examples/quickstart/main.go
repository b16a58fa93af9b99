// Command quickstart shows Ferry in one file: it starts a server in this
// process, calls it three ways (Call waits, Go runs calls side by side,
// Notify is one-way), shows a typed error and a deadline, and shuts down.
//
//	go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// Args are the operands of Arith's methods.
type Args struct{ A, B int64 }

// Arith is a service in the net/rpc style: each method takes a context, the
// arguments and a pointer to the reply.
type Arith struct{}

// Add returns A+B.
func (Arith) Add(ctx context.Context, args Args, reply *int64) error {
	*reply = args.A + args.B
	return nil
}

// Div returns A/B, or an error with a code that the caller can inspect.
func (Arith) Div(ctx context.Context, args Args, reply *int64) error {
	if args.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero")
	}
	*reply = args.A / args.B
	return nil
}

func main() {
	ctx := context.Background()

	// The server: register services, then serve a listener.
	srv := server.New()
	must(srv.Register(Arith{}))
	notes := make(chan string, 1)
	// A typed handler, checked at compile time. Notifications run it too.
	must(server.Handle(srv, "Log.Write", func(ctx context.Context, msg *string) (*bool, error) {
		notes <- *msg
		return nil, nil
	}))
	// A slow method, to show deadlines crossing the wire.
	slowEnded := make(chan error, 1)
	must(server.Handle(srv, "Slow.Wait", func(ctx context.Context, d *time.Duration) (*bool, error) {
		select {
		case <-time.After(*d):
		case <-ctx.Done(): // the caller's deadline reached the server
		}
		slowEnded <- ctx.Err()
		return nil, ctx.Err()
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	go srv.Serve(l) // returns server.ErrServerClosed after Shutdown
	fmt.Println("server listening on", l.Addr())

	// The client: one connection, safe for concurrent use.
	c, err := client.Dial(ctx, l.Addr().String())
	must(err)
	defer c.Close()

	// Sync: Call waits for the result.
	var sum int64
	must(c.Call(ctx, "Arith.Add", Args{3, 4}, &sum))
	fmt.Println("Call   Arith.Add(3, 4) =", sum)

	// Async: Go returns at once; several calls are in flight together.
	var calls []*ferry.Call
	for i := int64(1); i <= 3; i++ {
		calls = append(calls, c.Go(ctx, "Arith.Add", Args{i, 10 * i}, new(int64)))
	}
	for _, call := range calls {
		must(call.Wait())
		args := call.Args.(Args)
		fmt.Printf("Go     Arith.Add(%d, %d) = %d\n", args.A, args.B, *call.Reply.(*int64))
	}

	// One-way: Notify gets no response; the handler still runs.
	must(c.Notify(ctx, "Log.Write", "hello from a notification"))
	fmt.Printf("Notify Log.Write: the server got %q\n", <-notes)

	// Typed errors: code and message survive the trip.
	err = c.Call(ctx, "Arith.Div", Args{1, 0}, &sum)
	var fe *ferry.Error
	if !errors.As(err, &fe) {
		log.Fatalf("want a *ferry.Error, got %v", err)
	}
	fmt.Printf("Error  Arith.Div(1, 0): code=%s message=%q\n", fe.Code, fe.Message)

	// Deadlines: the server's handler sees the caller's deadline.
	dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	err = c.Call(dctx, "Slow.Wait", time.Minute, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		log.Fatalf("want a deadline error, got %v", err)
	}
	fmt.Printf("Deadline Slow.Wait(1m) with a 50ms timeout: code=%s (the handler stopped too: %v)\n",
		ferry.CodeOf(err), <-slowEnded)

	// Graceful shutdown: running calls finish, then connections close.
	sctx, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	must(srv.Shutdown(sctx))
	fmt.Println("server shut down")
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
