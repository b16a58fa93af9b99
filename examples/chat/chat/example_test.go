package chat_test

import (
	"context"
	"log"
	"os"
	"strings"

	"github.com/ferryrpc/ferry/examples/chat/chat"
)

// A room on a loopback port with one member, who says one line and sees
// it come back.
func ExampleMember() {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- chat.Serve(ctx, "127.0.0.1:0", ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-served:
		log.Fatal(err)
	}

	if err := chat.Member(ctx, addr, "alice", strings.NewReader("hello\n"), os.Stdout); err != nil {
		log.Fatal(err)
	}
	cancel()
	if err := <-served; err != nil {
		log.Fatal(err)
	}
	// Output:
	// [joined]
	// alice: hello
}
