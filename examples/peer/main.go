// Command peer shows two processes that each serve and call over one
// connection. Start one that listens, then one that dials:
//
//	go run ./examples/peer -listen 127.0.0.1:7002
//	go run ./examples/peer -dial 127.0.0.1:7002 -name bob
//
// Each side serves "Node.Greet". The dialer calls the listener; the
// listener, inside that handler, calls the dialer back over the same
// connection, then subscribes to the dialer's live feed: it opens a
// server-streaming call, "Node.Feed", to a handler the dialer registered
// (client.HandleServerStream), and reads each reading as it comes. It also
// pushes a greeting to every node that connects, at once: the dialer
// registers its handlers before it connects (client.WithHandlers), and
// waits for that greeting before it exits.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// FeedRequest asks a node's live feed for Count readings.
type FeedRequest struct {
	Count int `msgpack:"count"`
}

// Reading is one message of a node's live feed.
type Reading struct {
	Seq   int     `msgpack:"seq"`
	Value float64 `msgpack:"value"`
}

// Greeting is what nodes exchange.
type Greeting struct {
	From string `msgpack:"from"`
	Text string `msgpack:"text"`
}

func main() {
	listen := flag.String("listen", "", "listen on this address")
	dial := flag.String("dial", "", "dial a listening node at this address")
	name := flag.String("name", "", "this node's name (default: listener or dialer)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case *listen != "" && *dial != "":
		fmt.Fprintln(os.Stderr, "peer: -listen or -dial, not both")
		flag.Usage()
		os.Exit(2)
	case *listen != "":
		err = runListener(ctx, *listen, or(*name, "listener"), os.Stdout, nil)
	case *dial != "":
		err = runDialer(ctx, *dial, or(*name, "dialer"), os.Stdout)
	default:
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// runListener serves until ctx ends. ready, if not nil, gets the address.
func runListener(ctx context.Context, addr, name string, out *os.File, ready chan<- string) error {
	s := server.New(server.WithConnHooks(func(p *server.Peer) {
		// Push: call the new node as soon as it connects.
		var reply Greeting
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := p.Call(cctx, "Node.Greet", Greeting{From: name, Text: "welcome"}, &reply); err == nil {
			fmt.Fprintf(out, "%s: pushed a welcome to %s, who answered %q\n", name, reply.From, reply.Text)
		}
	}, nil))
	err := server.Handle(s, "Node.Greet", func(ctx context.Context, g *Greeting) (*Greeting, error) {
		// Call the caller back over the same connection before answering.
		var back Greeting
		if err := server.PeerFromContext(ctx).Call(ctx, "Node.Greet", Greeting{From: name, Text: "who is calling?"}, &back); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "%s: %s said %q, and on a callback %q\n", name, g.From, g.Text, back.Text)
		// Subscribe to the caller's live feed: a stream the server opens.
		feed, err := client.OpenServerStream[FeedRequest, Reading](ctx, server.PeerFromContext(ctx), "Node.Feed", &FeedRequest{Count: 3})
		if err != nil {
			return nil, err
		}
		defer feed.Close()
		for {
			r, err := feed.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(out, "%s: %s's feed: reading %d = %.1f\n", name, g.From, r.Seq, r.Value)
		}
		return &Greeting{From: name, Text: "nice to meet you, " + g.From}, nil
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: listening on %s\n", name, l.Addr())
	if ready != nil {
		ready <- l.Addr().String()
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(sctx)
	}()
	if err := s.Serve(l); err != server.ErrServerClosed {
		return err
	}
	return nil
}

// runDialer connects, serving Node.Greet and Node.Feed to the listener,
// calls Node.Greet once, waits for the listener's welcome (at most 5 s)
// and returns.
func runDialer(ctx context.Context, addr, name string, out *os.File) error {
	welcomed := make(chan struct{})
	var once sync.Once
	// The handlers the listener calls back, registered before the
	// connection starts: its welcome comes as soon as this node connects.
	c, err := client.Dial(ctx, addr, client.WithHandlers(func(c *client.Client) error {
		err := client.Handle(c, "Node.Greet", func(ctx context.Context, g *Greeting) (*Greeting, error) {
			fmt.Fprintf(out, "%s: %s calls me: %q\n", name, g.From, g.Text)
			if g.Text == "welcome" {
				once.Do(func() { close(welcomed) })
			}
			return &Greeting{From: name, Text: "it is " + name}, nil
		})
		if err != nil {
			return err
		}
		// The live feed the listener subscribes to.
		return client.HandleServerStream(c, "Node.Feed", func(ctx context.Context, req *FeedRequest, send func(*Reading) error) error {
			for i := 1; i <= req.Count; i++ {
				if err := send(&Reading{Seq: i, Value: 20 + float64(i)/2}); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "%s: sent %d readings on my feed\n", name, req.Count)
			return nil
		})
	}))
	if err != nil {
		return err
	}
	defer c.Close()
	var reply Greeting
	if err := c.Call(ctx, "Node.Greet", Greeting{From: name, Text: "hello"}, &reply); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s answered %q\n", name, reply.From, reply.Text)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-welcomed:
		return nil
	case <-t.C:
		return errors.New("the listener pushed no welcome within 5 s")
	case <-ctx.Done():
		return ctx.Err()
	}
}
