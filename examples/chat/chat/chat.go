// Package chat is a small chat room over Ferry's publish/subscribe: every
// line a member types is published to the room's topic, and every member
// prints what the room receives.
package chat

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
)

// Topic is the room's topic.
const Topic = "chat.room"

// Line is one chat message.
type Line struct {
	From string `msgpack:"from"`
	Text string `msgpack:"text"`
	// Sender tells one member from another: random, drawn by each Member
	// call, so that members who share a name each count their own lines.
	Sender string `msgpack:"sender,omitempty"`
}

// NewServer returns a server that relays the room.
func NewServer() (*server.Server, error) {
	s := server.New()
	b := pubsub.NewBroker(pubsub.WithQueue(256, pubsub.DropOldest))
	if err := b.Register(s); err != nil {
		return nil, err
	}
	return s, nil
}

// shutdownGrace is how long the server, once Serve's ctx ended, lets
// the calls in flight finish. The broker ends members' subscriptions as
// the shutdown begins; a member that reads nothing more is cut at its end.
const shutdownGrace = time.Second

// Serve listens on addr and serves the room until ctx ends; ready, if not
// nil, receives the bound address. Then the members still in the room are
// let go within a second (Member returns an error of code
// ferry.CodeUnavailable), and Serve returns once the server is shut down.
func Serve(ctx context.Context, addr string, ready chan<- string) error {
	s, err := NewServer()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready <- l.Addr().String()
	}
	// Shut down when ctx ends; if Serve fails first, close the server
	// and stop watching ctx.
	shut := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shut)
		sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		_ = s.Shutdown(sctx)
	})
	err = s.Serve(l)
	if stop() {
		s.Close()
		return err
	}
	<-shut
	if err == server.ErrServerClosed {
		return nil
	}
	return err
}

// Member joins the room at addr as name: it prints "[joined]" once it
// listens, then every line of in is published, and every line the room
// receives is printed to out as "from: text", until in ends and the member
// has seen all its own lines come back (the lines it published: another
// member of the same name has lines of its own).
func Member(ctx context.Context, addr, name string, in io.Reader, out io.Writer) error {
	c, err := client.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	sub, err := pubsub.Subscribe(ctx, c, Topic)
	if err != nil {
		return err
	}
	defer sub.Close()
	fmt.Fprintln(out, "[joined]")

	sender := rand.Text() // this member's lines, whatever the others are named
	var published atomic.Int64
	var sendErr error
	inputDone := make(chan struct{})
	waitCtx, wake := context.WithCancel(ctx) // canceled when the input ends
	defer wake()
	go func() {
		defer wake()
		defer close(inputDone)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			if _, err := pubsub.Publish(ctx, c, Topic, Line{From: name, Text: sc.Text(), Sender: sender}); err != nil {
				sendErr = err
				return
			}
			published.Add(1)
		}
		sendErr = sc.Err()
	}()
	seenOwn := int64(0)
	for {
		select {
		case <-inputDone:
			if sendErr != nil || seenOwn >= published.Load() {
				return sendErr
			}
		default:
		}
		var l Line
		if err := sub.Next(waitCtx, &l); err != nil {
			if ctx.Err() == nil && waitCtx.Err() != nil {
				waitCtx = ctx // the input ended: check, then keep reading
				continue
			}
			return err
		}
		fmt.Fprintf(out, "%s: %s\n", l.From, l.Text)
		if l.Sender == sender {
			seenOwn++
		}
	}
}
