package pubsub_test

import (
	"context"
	"fmt"
	"net"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
)

// pipeClient serves s on one end of an in-memory pipe and returns a client
// on the other; over TCP it would be s.Serve and client.Dial.
func pipeClient(s *server.Server) (*client.Client, func()) {
	cc, sc := net.Pipe()
	served := make(chan struct{})
	go func() { defer close(served); _ = s.ServeConn(sc) }()
	c, err := client.New(cc)
	if err != nil {
		panic(err)
	}
	return c, func() { c.Close(); s.Close(); <-served }
}

func Example() {
	type Price struct {
		Symbol string
		Cents  int
	}
	broker := pubsub.NewBroker()
	s := server.New()
	if err := broker.Register(s); err != nil {
		fmt.Println(err)
		return
	}
	c, done := pipeClient(s)
	defer done()
	ctx := context.Background()

	sub, err := pubsub.Subscribe(ctx, c, "prices")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Close()

	// From any client of the server, or from the server's side with
	// broker.Publish.
	n, err := pubsub.Publish(ctx, c, "prices", Price{"FRY", 1250})
	fmt.Println("queued for", n, err)
	_, _ = broker.Publish(ctx, "prices", Price{"FRY", 1275})

	for range 2 {
		var p Price
		if err := sub.Next(ctx, &p); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p.Symbol, p.Cents)
	}
	// Output:
	// queued for 1 <nil>
	// FRY 1250
	// FRY 1275
}
