// Command client calls the arith example server three ways side by side:
// Call (wait for the result), Go (several calls in flight at once) and
// Notify (one-way, never answered).
//
//	go run ./examples/arith/server -addr 127.0.0.1:7000 &
//	go run ./examples/arith/client -addr 127.0.0.1:7000
//
// It exits non-zero on any error it did not expect.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/examples/arith/arith"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7000", "address of the arith server")
	timeout := flag.Duration("timeout", 10*time.Second, "bound on the whole run")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("arith client: ")

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()

	// Call: send and wait.
	var sum int64
	if err := c.Call(ctx, "Arith.Add", arith.Args{A: 3, B: 4}, &sum); err != nil {
		return err
	}
	fmt.Printf("Call   Arith.Add(3, 4) = %d\n", sum)

	product, err := client.Invoke[int64](ctx, c, "Arith.Mul", arith.Args{A: 6, B: 7})
	if err != nil {
		return err
	}
	fmt.Printf("Invoke Arith.Mul(6, 7) = %d\n", *product)

	// An error response: a *ferry.Error with a code; the connection stays
	// usable.
	err = c.Call(ctx, "Arith.Div", arith.Args{A: 1, B: 0}, nil)
	var fe *ferry.Error
	if !errors.As(err, &fe) || fe.Code != ferry.CodeInvalidArgument {
		return fmt.Errorf("Arith.Div(1, 0): want an invalid_argument error, got %v", err)
	}
	fmt.Printf("Call   Arith.Div(1, 0) failed as expected: code=%s message=%q\n", fe.Code, fe.Message)

	// Go: several calls in flight at once on the one connection.
	calls := make([]*ferry.Call, 5)
	for i := range calls {
		calls[i] = c.Go(ctx, "Arith.Div", arith.Args{A: 100, B: int64(i + 1)}, new(int64))
	}
	for i, call := range calls {
		if err := call.Wait(); err != nil {
			return err
		}
		fmt.Printf("Go     Arith.Div(100, %d) = %d\n", i+1, *call.Reply.(*int64))
	}

	// Echo: any msgpack value comes back unchanged.
	in, err := codec.Marshal(map[string]any{"name": "ferry", "ids": []int{1, 2, 3}})
	if err != nil {
		return err
	}
	var out codec.Raw
	if err := c.Call(ctx, "Echo.Echo", codec.Raw(in), &out); err != nil {
		return err
	}
	var echoed map[string]any
	if err := codec.Unmarshal(out, &echoed); err != nil {
		return err
	}
	fmt.Printf("Call   Echo.Echo(...) = %v\n", echoed)

	// Notify: one-way; the server runs Arith.Add and sends nothing back.
	if err := c.Notify(ctx, "Arith.Add", arith.Args{A: 1, B: 1}); err != nil {
		return err
	}
	fmt.Println("Notify Arith.Add(1, 1) sent (no response by design)")

	// The connection is still fine after all that.
	if err := c.Call(ctx, "Arith.Add", arith.Args{A: -5, B: 2}, &sum); err != nil {
		return err
	}
	fmt.Printf("Call   Arith.Add(-5, 2) = %d\n", sum)
	return nil
}
