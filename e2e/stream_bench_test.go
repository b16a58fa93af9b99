package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/require"
)

// echoBidi serves "Bench.Chat": every message back.
func echoBidi(ctx context.Context, st *server.BidiStream[benchMsg, benchMsg]) error {
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(m); err != nil {
			return err
		}
	}
}

// noopStream is a stream interceptor that does nothing but call next.
func noopStream(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
	return next(ctx, st)
}

// BenchmarkStreamInterceptor measures bidi echo messages per second over
// loopback TCP, on 1 and 16 streams at once, with no stream interceptor
// and with one no-op interceptor on each side.
func BenchmarkStreamInterceptor(b *testing.B) {
	for _, ic := range []string{"none", "noop"} {
		var sopts []server.Option
		var copts []client.Option
		if ic == "noop" {
			sopts = append(sopts, server.WithStreamInterceptors(noopStream))
			copts = append(copts, client.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, next ferry.Streamer) (ferry.ClientStream, error) {
				return next(ctx, info)
			}))
		}
		for _, streams := range []int{1, 16} {
			b.Run(fmt.Sprintf("ic=%s/streams=%d", ic, streams), func(b *testing.B) {
				s := server.New(sopts...)
				require.NoError(b, server.HandleBidi(s, "Bench.Chat", echoBidi))
				l, err := net.Listen("tcp", "127.0.0.1:0")
				require.NoError(b, err)
				go func() { _ = s.Serve(l) }()
				c, err := client.Dial(context.Background(), l.Addr().String(), copts...)
				require.NoError(b, err)
				defer func() { c.Close(); s.Close() }()
				benchBidi(b, streams, func(ctx context.Context) (*client.BidiStream[benchMsg, benchMsg], error) {
					return client.OpenBidi[benchMsg, benchMsg](ctx, c, "Bench.Chat")
				})
			})
		}
	}
}

// benchBidi opens streams bidi streams with open and sends b.N messages in
// all, each echoed before the next, reporting messages per second.
func benchBidi(b *testing.B, streams int, open func(context.Context) (*client.BidiStream[benchMsg, benchMsg], error)) {
	ctx := context.Background()
	sts := make([]*client.BidiStream[benchMsg, benchMsg], streams)
	for i := range sts {
		st, err := open(ctx)
		require.NoError(b, err)
		sts[i] = st
	}
	msg := newBenchMsg()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for i, st := range sts {
		n := b.N / streams
		if i < b.N%streams {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range n {
				if err := st.Send(msg); err != nil {
					errs <- err
					return
				}
				if _, err := st.Recv(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.StopTimer()
	close(errs)
	for err := range errs {
		require.NoError(b, err)
	}
	for _, st := range sts {
		_ = st.CloseSend()
		_, _ = st.Recv()
		st.Close()
	}
}

// BenchmarkStreamDirection measures bidi echo messages per second on one
// loopback TCP connection, on streams the client opens to the server's
// handler and on streams the server opens (through its Peer) to the
// client's handler, on 1 and 16 streams at once.
func BenchmarkStreamDirection(b *testing.B) {
	peers := make(chan *server.Peer, 1)
	s := server.New(server.WithConnHooks(func(p *server.Peer) { peers <- p }, nil))
	require.NoError(b, server.HandleBidi(s, "Bench.Chat", echoBidi))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	go func() { _ = s.Serve(l) }()
	c, err := client.Dial(context.Background(), l.Addr().String())
	require.NoError(b, err)
	defer func() { c.Close(); s.Close() }()
	require.NoError(b, client.HandleBidi(c, "Bench.Chat", func(ctx context.Context, recv func() (*benchMsg, error), send func(*benchMsg) error) error {
		for {
			m, err := recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := send(m); err != nil {
				return err
			}
		}
	}))
	p := <-peers
	for _, dir := range []string{"client-opened", "server-opened"} {
		var opener ferry.StreamOpener = c
		if dir == "server-opened" {
			opener = p
		}
		for _, streams := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/streams=%d", dir, streams), func(b *testing.B) {
				benchBidi(b, streams, func(ctx context.Context) (*client.BidiStream[benchMsg, benchMsg], error) {
					return client.OpenBidi[benchMsg, benchMsg](ctx, opener, "Bench.Chat")
				})
			})
		}
	}
}
