package stream_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/registry"
	"github.com/ferryrpc/ferry/internal/stream"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cutConn tells when a write deadline that has already passed is set on
// it: the moment the serving side cut the stream's writes.
type cutConn struct {
	net.Conn
	once sync.Once
	cut  chan struct{}
}

func (c *cutConn) SetWriteDeadline(t time.Time) error {
	err := c.Conn.SetWriteDeadline(t)
	if !t.IsZero() && !t.After(time.Now()) {
		c.once.Do(func() { close(c.cut) })
	}
	return err
}

// TestServeDeadlineCutsLaterWrites: once a streaming call's deadline has
// passed, a handler that goes on sending to a caller that reads nothing
// must fail at once, not after the stream's write timeout. The stream's
// writer sets a deadline of its own on its first write; it must not set
// it over the cut (a handler that began sending as the deadline passed
// stayed blocked for the whole write timeout: TestStreamDeadline).
func TestServeDeadlineCutsLaterWrites(t *testing.T) {
	caller, b := net.Pipe() // the caller never reads
	defer caller.Close()
	st := &cutConn{Conn: b, cut: make(chan struct{})}
	cnt := stream.NewCounter(st, 1)
	sc := stream.New(cnt, wire.DefaultLimits)
	sc.BoundWrites(nil, time.Minute)
	defer sc.Close()

	sent := make(chan int, 1)
	m := &registry.Method{Name: "Wait.Send", Kind: ferry.ServerStreaming, Stream: func(ctx context.Context, s ferry.ServerStream) (any, error) {
		<-st.cut // the deadline passed and the stream was cut: now send
		msg := make([]byte, 1<<10)
		for i := range 1 << 10 { // 1 MiB: far past what the writer queues
			if err := s.Send(msg); err != nil {
				sent <- i
				return nil, err
			}
		}
		sent <- -1
		return nil, errors.New("every Send succeeded")
	}}
	o := &stream.Serving{Logger: slog.New(slog.DiscardHandler), CloseTimeout: time.Second}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		ext := wire.RequestExt{Timeout: int64(10 * time.Millisecond)}
		o.Run(context.Background(), st, sc, cnt, m, ext, func(context.CancelFunc) func() { return func() {} }, nil)
	}()
	select {
	case <-ran:
	case <-time.After(10 * time.Second): // the writer's own deadline is a minute away
		t.Fatal("the handler's Send blocked after the deadline had cut the stream")
	}
	n := <-sent
	require.GreaterOrEqual(t, n, 0, "every Send succeeded")
	assert.Less(t, n, 1<<10)
}
