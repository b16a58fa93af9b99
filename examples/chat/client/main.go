// Command client joins a chat room and relays stdin to it:
//
//	go run ./examples/chat/client -addr 127.0.0.1:7001 -name alice
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferryrpc/ferry/examples/chat/chat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "server address")
	name := flag.String("name", "anon", "your name in the room")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := chat.Member(ctx, *addr, *name, os.Stdin, os.Stdout); err != nil && ctx.Err() == nil {
		log.Fatal(err)
	}
}
