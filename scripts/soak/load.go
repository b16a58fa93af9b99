package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/transport"
)

const (
	maxOps      = 1 << 24 // bound on every load loop; the run's duration ends them first
	callTimeout = 3 * time.Second
	pace        = 2 * time.Millisecond // pause between operations of one load goroutine
)

// worker is one client: it connects through its own faults, runs the load
// until the connection breaks or the run ends, and reconnects.
type worker struct {
	id     int
	f      *faultnet.Faults
	box    *serverBox
	st     *stats
	cfg    transport.Config
	lastOK atomic.Int64 // unix nanoseconds of the last successful operation
}

// record counts an operation's outcome and notes a success.
func (w *worker) record(err error) {
	w.st.record(err)
	if err == nil {
		w.lastOK.Store(time.Now().UnixNano())
	}
}

// wrong counts a wrong result and prints the first few.
func (w *worker) wrong(format string, args ...any) {
	if n := w.st.wrong.Add(1); n <= 10 {
		fmt.Printf("soak: wrong result (client %d): %s\n", w.id, fmt.Sprintf(format, args...))
	}
}

// idle returns how long ago the worker last succeeded.
func (w *worker) idle(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, w.lastOK.Load()))
}

func (w *worker) run(ctx context.Context) {
	defer w.st.recoverPanic("worker")
	backoff := 50 * time.Millisecond
	for attempt := 0; attempt < maxOps && ctx.Err() == nil; attempt++ {
		c, err := w.connect(ctx)
		if err != nil {
			w.st.dialFailures.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		w.st.connects.Add(1)
		w.session(ctx, c)
	}
}

func (w *worker) connect(ctx context.Context) (*client.Client, error) {
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	nc, err := w.f.Dialer(nil)(dctx, "tcp", w.box.Addr())
	if err != nil {
		return nil, err
	}
	c, err := client.New(nc, client.WithConfig(w.cfg))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// session runs the load on c until c breaks or ctx ends, then closes c
// and waits for every load goroutine.
func (w *worker) session(ctx context.Context, c *client.Client) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for name, load := range map[string]func(context.Context, *client.Client){
		"calls": w.calls, "bursts": w.bursts, "notes": w.notes, "streams": w.streams, "pubsub": w.pubsub,
	} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.st.recoverPanic(name)
			load(sctx, c)
		}()
	}
	select {
	case <-c.Done():
	case <-sctx.Done():
	}
	cancel()
	c.Close()
	wg.Wait()
}

// next pauses between operations; it reports false once ctx has ended.
func next(ctx context.Context) bool {
	t := time.NewTimer(pace)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (w *worker) calls(ctx context.Context, c *client.Client) {
	for i := int64(0); i < maxOps && next(ctx); i++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		var sum int64
		err := c.Call(cctx, "Arith.Add", testsvc.Args{A: i, B: int64(w.id)}, &sum)
		cancel()
		w.record(err)
		if err == nil && sum != i+int64(w.id) {
			w.wrong("Arith.Add(%d, %d) = %d", i, w.id, sum)
		}
	}
}

func (w *worker) bursts(ctx context.Context, c *client.Client) {
	payload, _ := codec.Marshal(bytes.Repeat([]byte{byte(w.id)}, 512))
	for i := 0; i < maxOps && next(ctx); i++ {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		calls := make([]*ferry.Call, 32)
		for j := range calls {
			calls[j] = c.Go(cctx, "Echo.Echo", codec.Raw(payload), new(codec.Raw))
		}
		for _, call := range calls {
			err := call.Wait()
			w.record(err)
			if err == nil && !bytes.Equal(*call.Reply.(*codec.Raw), payload) {
				w.wrong("Echo.Echo returned %d bytes that differ from the %d sent", len(*call.Reply.(*codec.Raw)), len(payload))
			}
		}
		cancel()
	}
}

func (w *worker) notes(ctx context.Context, c *client.Client) {
	for i := int64(0); i < maxOps && next(ctx); i++ {
		err := c.Notify(ctx, "Soak.Note", i)
		w.record(err)
		if err == nil {
			w.st.notesSent.Add(1)
		}
	}
}

func (w *worker) streams(ctx context.Context, c *client.Client) {
	for i := 0; i < maxOps && next(ctx); i++ {
		w.record(w.stream(ctx, c))
	}
}

// stream doubles 20 numbers over one bidirectional stream.
func (w *worker) stream(ctx context.Context, c *client.Client) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	st, err := client.OpenBidi[num, num](cctx, c, "Soak.Double")
	if err != nil {
		return err
	}
	defer st.Close()
	for j := range 20 {
		if err := st.Send(&num{j}); err != nil {
			return err
		}
		m, err := st.Recv()
		if err != nil {
			return err
		}
		if m.N != 2*j {
			w.wrong("Soak.Double(%d) = %d", j, m.N)
		}
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	if _, err := st.Recv(); err != io.EOF {
		return fmt.Errorf("soak: stream did not end cleanly: %w", err)
	}
	return nil
}

func (w *worker) pubsub(ctx context.Context, c *client.Client) {
	for round := 0; round < maxOps && next(ctx); round++ {
		w.record(w.pubsubRound(ctx, c, round))
	}
}

// pubsubRound subscribes to the worker's topic, publishes 50 messages
// through the server and receives each in order. A message is
// round*1000+j: a publish abandoned at its deadline in an earlier round
// may still run on the server (its outcome was unknown) and reach this
// round's subscription, so such stale messages are skipped.
func (w *worker) pubsubRound(ctx context.Context, c *client.Client, round int) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	topic := fmt.Sprintf("soak.%d", w.id)
	sub, err := pubsub.Subscribe(cctx, c, topic)
	if err != nil {
		return err
	}
	defer sub.Close()
	for j := range 50 {
		want := round*1000 + j
		if _, err := pubsub.Publish(cctx, c, topic, want); err != nil {
			return err
		}
		if err := w.receive(cctx, sub, round, want); err != nil {
			return err
		}
	}
	return nil
}

// receive waits for message want, skipping up to 100 stale ones.
func (w *worker) receive(ctx context.Context, sub *pubsub.Subscription, round, want int) error {
	for range 100 {
		var got int
		if err := sub.Next(ctx, &got); err != nil {
			return err
		}
		if got/1000 < round {
			continue // stale, from an abandoned publish of an earlier round
		}
		if got != want {
			w.wrong("pubsub round %d: got message %d, want %d", round, got, want)
			return errors.New("soak: a message arrived out of order")
		}
		return nil
	}
	return errors.New("soak: too many stale messages")
}
