package arith_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
)

// Serve the arith services on a loopback port and call them.
func ExampleRegister() {
	s := server.New()
	if err := arith.Register(s); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()

	ctx := context.Background()
	c, err := client.Dial(ctx, l.Addr().String())
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var sum, product int64
	if err := c.Call(ctx, "Arith.Add", arith.Args{A: 3, B: 4}, &sum); err != nil {
		log.Fatal(err)
	}
	if err := c.Call(ctx, "Arith.Mul", arith.Args{A: 3, B: 4}, &product); err != nil {
		log.Fatal(err)
	}
	err = c.Call(ctx, "Arith.Div", arith.Args{A: 1, B: 0}, &sum)
	fmt.Println(sum, product, err)
	// Output: 7 12 ferry: invalid_argument: division by zero
}
