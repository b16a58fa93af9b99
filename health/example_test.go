package health_test

import (
	"context"
	"fmt"
	"net"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/server"
)

func Example() {
	srv := server.New()
	hs := health.NewServer()
	if err := hs.Register(srv); err != nil {
		fmt.Println(err)
		return
	}
	hs.SetStatus("billing", health.NotServing)

	// A client over an in-memory pipe; over TCP it would be client.Dial.
	cc, sc := net.Pipe()
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeConn(sc) }()
	c, err := client.New(cc)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { c.Close(); srv.Close(); <-served }()

	for _, service := range []string{"", "billing"} {
		st, err := health.Check(context.Background(), c.Conn, service)
		fmt.Printf("%q: %s %v\n", service, st, err)
	}

	hs.Shutdown() // before the server's Shutdown: checkers move away first
	st, _ := health.Check(context.Background(), c.Conn, "")
	fmt.Println(st)
	// Output:
	// "": SERVING <nil>
	// "billing": NOT_SERVING <nil>
	// NOT_SERVING
}
