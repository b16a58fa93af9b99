package etcd_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/ferryrpc/ferry/server"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A server registers itself under "orders" and deregisters before it
// shuts down; a client calls whichever servers are registered. (It needs
// an etcd at 127.0.0.1:2379, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{"127.0.0.1:2379"}, DialTimeout: 5 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer cli.Close()

	// The server side.
	srv := server.New()
	// ... srv.Register(...) ...
	l, err := net.Listen("tcp", "10.0.0.5:7000")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	reg, err := etcd.Register(ctx, cli, "orders", l.Addr().String(), etcd.WithAttrs(map[string]string{"zone": "eu-1"}))
	if err != nil {
		log.Fatal(err)
	}
	defer func() {
		reg.Close(ctx) // clients stop sending first
		srv.Shutdown(ctx)
	}()

	// The client side, usually another process.
	r, err := etcd.NewResolver(cli, "orders")
	if err != nil {
		log.Fatal(err)
	}
	c, err := cluster.New(r)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var id string
	if err := c.Call(ctx, "Orders.Create", map[string]any{"item": "book"}, &id); err != nil {
		log.Fatal(err)
	}
	fmt.Println("created", id)
}

// Options are checked before anything reaches etcd.
func ExampleWithTTL() {
	_, err := etcd.Register(context.Background(), nil, "orders", "10.0.0.5:7000", etcd.WithTTL(1))
	fmt.Println(err)
	_, err = etcd.NewResolver(nil, "orders", etcd.WithPrefix("services"))
	fmt.Println(err)
	// Output:
	// ferry: etcd lease TTL 1 s is outside 2..3600
	// ferry: etcd prefix "services" must start and end with /
}
