package cluster_test

import (
	"context"
	"fmt"
	"net"
	"sort"

	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
)

// Three servers behind one client: calls go round robin, and the typed
// forms check the reply type at compile time.
func Example() {
	ctx := context.Background()
	var addrs []string
	for _, name := range []string{"a", "b", "c"} {
		srv := server.New()
		_ = server.Handle(srv, "Who.Am", func(context.Context, *struct{}) (*string, error) { return &name, nil })
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		go srv.Serve(l)
		defer srv.Close()
		addrs = append(addrs, l.Addr().String())
	}

	c, err := cluster.New(resolver.Static(addrs...), cluster.WithBalancer(balancer.RoundRobin()))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_ = c.WaitReady(ctx, 3)

	var seen []string
	for range 3 {
		who, err := client.Invoke[string](ctx, c, "Who.Am", struct{}{})
		if err != nil {
			panic(err)
		}
		seen = append(seen, *who)
	}
	sort.Strings(seen)
	fmt.Println(seen)
	// Output: [a b c]
}
