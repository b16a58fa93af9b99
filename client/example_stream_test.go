package client_test

import (
	"context"
	"fmt"
	"io"
	"net"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// An untyped caller of a ServerStream method sends its single request as
// the stream's first message, then CloseSend, then reads until io.EOF;
// the handler's returned value is the stream's Result.
func ExampleClient_NewStream() {
	s := server.New()
	_ = s.HandleStream("Count.To", server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
		var n int
		if err := st.Recv(&n); err != nil { // the single request
			return nil, err
		}
		for i := 1; i <= n; i++ {
			if err := st.Send(i); err != nil {
				return nil, err
			}
		}
		return "done", nil
	})
	cc, sc := net.Pipe()
	go s.ServeConn(sc)
	c, err := client.New(cc)
	if err != nil {
		panic(err)
	}
	defer s.Close()
	defer c.Close()

	st, err := c.NewStream(context.Background(), "Count.To")
	if err != nil {
		panic(err)
	}
	_ = st.Send(3)
	_ = st.CloseSend()
	fmt.Println(st.Send(4)) // nothing more may follow CloseSend
	for {
		var i int
		if err := st.Recv(&i); err == io.EOF {
			break
		} else if err != nil {
			panic(err)
		}
		fmt.Println(i)
	}
	var result string
	fmt.Println(st.Result(&result), result)
	// Output:
	// ferry: failed_precondition: Send after CloseSend: the message was not sent
	// 1
	// 2
	// 3
	// <nil> done
}
