package e2e_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVaudit20ShuttingDownEverywhere checks ShuttingDown: "returns a
// channel that is closed once the server running the handler whose
// context is ctx (or one derived from it) begins a graceful Shutdown, or a
// Close": for a unary and a streaming handler, on a connection from Serve
// and one given to ServeConn, for Shutdown and for Close, with a context
// derived from the handler's.
func TestVaudit20ShuttingDownEverywhere(t *testing.T) {
	for _, conn := range []string{"serve", "serveconn"} {
		for _, stop := range []string{"shutdown", "close"} {
			t.Run(conn+"/"+stop, func(t *testing.T) {
				s := server.New()
				seen := make(chan string, 4)
				watch := func(ctx context.Context, kind string) {
					dctx, cancel := context.WithCancel(ctx)
					defer cancel()
					ch := server.ShuttingDown(dctx)
					if ch == nil {
						seen <- kind + ": nil"
						return
					}
					seen <- kind + ": started"
					select {
					case <-ch:
						seen <- kind + ": closed"
					case <-time.After(10 * time.Second):
						seen <- kind + ": not closed"
					}
				}
				require.NoError(t, server.Handle(s, "W.Unary", func(ctx context.Context, _ *struct{}) (*int, error) {
					watch(ctx, "unary")
					return nil, nil
				}))
				require.NoError(t, s.HandleStream("W.Stream", server.Bidi, func(ctx context.Context, st *server.Stream) (any, error) {
					watch(ctx, "stream")
					return nil, nil
				}))
				var c *client.Client
				if conn == "serve" {
					l, err := net.Listen("tcp", "127.0.0.1:0")
					require.NoError(t, err)
					go func() { _ = s.Serve(l) }()
					var derr error
					c, derr = client.Dial(t.Context(), l.Addr().String())
					require.NoError(t, derr)
				} else {
					a, b := net.Pipe()
					go func() { _ = s.ServeConn(b) }()
					var nerr error
					c, nerr = client.New(a)
					require.NoError(t, nerr)
				}
				defer c.Close()
				call := c.Go(t.Context(), "W.Unary", nil, nil)
				st, err := c.NewStream(t.Context(), "W.Stream")
				require.NoError(t, err)
				defer st.Close()
				got := map[string]bool{}
				for range 2 {
					select {
					case m := <-seen:
						got[m] = true
					case <-time.After(5 * time.Second):
						t.Fatal("the handlers did not start")
					}
				}
				require.Equal(t, map[string]bool{"unary: started": true, "stream: started": true}, got)
				ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
				defer cancel()
				stopped := make(chan error, 1)
				go func() {
					if stop == "shutdown" {
						stopped <- s.Shutdown(ctx)
					} else {
						stopped <- s.Close()
					}
				}()
				got = map[string]bool{}
				for range 2 {
					select {
					case m := <-seen:
						got[m] = true
					case <-time.After(12 * time.Second):
						t.Fatal("the handlers did not return")
					}
				}
				assert.Equal(t, map[string]bool{"unary: closed": true, "stream: closed": true}, got)
				assert.NoError(t, <-stopped)
				<-call.Done()
			})
		}
	}
}
