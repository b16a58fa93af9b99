package transport_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/ferryrpc/ferry/transport"
)

// A Session multiplexes streams over one connection; either side may open
// them. Here the client opens one and the server echoes what it reads.
func ExampleSession() {
	cc, sc := net.Pipe()
	cfg := transport.DefaultConfig()

	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		srv, err := transport.Server(sc, cfg)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer srv.Close()
		st, err := srv.Accept()
		if err != nil {
			fmt.Println(err)
			return
		}
		defer st.Close()
		_, _ = io.Copy(st, st) // echo until the client closes its side
	}()

	cli, err := transport.Client(cc, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := cli.Open(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = st.Write([]byte("ping"))
	buf := make([]byte, 4)
	_, err = io.ReadFull(st, buf)
	fmt.Println(string(buf), err)

	st.Close()
	cli.Close()
	<-serverDone
	// Output: ping <nil>
}

// Sniff tells a Ferry session from a plain MessagePack-RPC client by the
// first byte, and gives it back to whoever reads the connection next.
func ExampleSniff() {
	for _, first := range []byte{0x00, 0x94} { // yamux version 0; a 4-element array
		cc, sc := net.Pipe()
		go func() {
			_, _ = cc.Write([]byte{first})
			cc.Close()
		}()
		proto, conn, err := transport.Sniff(sc, time.Second)
		b, _ := io.ReadAll(conn)
		fmt.Printf("session=%v msgpack-rpc=%v first byte %x %v\n", proto == transport.ProtocolSession, proto == transport.ProtocolMsgpackRPC, b, err)
		sc.Close()
	}
	// Output:
	// session=true msgpack-rpc=false first byte 00 <nil>
	// session=false msgpack-rpc=true first byte 94 <nil>
}

// A Budget bounds the memory one connection makes this side hold; a Pool
// bounds the sum over many.
func ExampleBudget() {
	pool := transport.NewPool(1 << 20)
	b := transport.NewBudget(64<<10, pool)
	defer b.Close()

	fmt.Println(b.Charge(48<<10), b.Used())
	fmt.Println(b.Charge(32<<10), b.Used()) // would pass 64 KiB: refused, nothing charged
	b.Release(48 << 10)
	fmt.Println(b.Used())
	// Output:
	// true 49152
	// false 49152
	// 0
}
