// Command server runs a chat room: go run ./examples/chat/server -addr 127.0.0.1:7001
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferryrpc/ferry/examples/chat/chat"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7001", "listen address")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ready := make(chan string, 1)
	go func() { fmt.Println("listening on", <-ready) }()
	if err := chat.Serve(ctx, *addr, ready); err != nil {
		log.Fatal(err)
	}
}
