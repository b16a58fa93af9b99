package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
)

// num is the message of the Soak.Double stream.
type num struct{ N int }

// serverBox holds the current server, which the faults may restart.
type serverBox struct {
	cfg    transport.Config
	st     *stats
	faults *faultnet.Faults // applied to every connection the server accepts

	mu   sync.Mutex
	srv  *server.Server
	addr string
	done chan error
}

// start serves on addr, or on a fresh port if addr cannot be reused.
func (b *serverBox) start(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return err
	}
	logger := slog.New(&panicCounter{st: b.st})
	s := server.New(server.WithConfig(b.cfg), server.WithLogger(logger), server.WithMaxConcurrentCalls(256))
	if err := b.register(s); err != nil {
		l.Close()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(b.faults.Listener(l)) }()
	b.mu.Lock()
	b.srv, b.addr, b.done = s, l.Addr().String(), done
	b.mu.Unlock()
	return nil
}

func (b *serverBox) register(s *server.Server) error {
	if err := s.Register(testsvc.Arith{}); err != nil {
		return err
	}
	if err := s.Register(testsvc.Echo{}); err != nil {
		return err
	}
	if err := server.Handle(s, "Soak.Note", func(ctx context.Context, n *int64) (*struct{}, error) {
		b.st.notesHandled.Add(1)
		return nil, nil
	}); err != nil {
		return err
	}
	if err := server.HandleBidi(s, "Soak.Double", double); err != nil {
		return err
	}
	return pubsub.NewBroker(pubsub.WithQueue(256, pubsub.DropOldest)).Register(s)
}

// double answers every number with its double until the caller's
// CloseSend.
func double(ctx context.Context, st *server.BidiStream[num, num]) error {
	for range 1 << 20 {
		m, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.Send(&num{2 * m.N}); err != nil {
			return err
		}
	}
	return nil
}

// Addr returns the address clients should dial now.
func (b *serverBox) Addr() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr
}

// restart shuts the server down gracefully (forcing it after 2 s) and
// starts a new one on the same address.
func (b *serverBox) restart() error {
	if !b.stop() {
		return errors.New("soak: the old server hangs")
	}
	b.st.serverRestarts.Add(1)
	return b.start(b.Addr())
}

// stop shuts the current server down (forcing it after 2 s) and waits for
// its Serve to return. It reports false if that took more than 30 s: the
// server hangs, and the run fails.
func (b *serverBox) stop() bool {
	b.mu.Lock()
	s, done := b.srv, b.done
	b.mu.Unlock()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
		_ = s.Close()
		<-done
	}()
	select {
	case <-stopped:
		return true
	case <-time.After(30 * time.Second):
		b.st.hangs.Add(1)
		fmt.Println("soak: the server did not stop within 30 s")
		return false
	}
}

// panicCounter is a slog handler that counts handler panics the server
// recovered and discards everything else.
type panicCounter struct{ st *stats }

func (h *panicCounter) Enabled(context.Context, slog.Level) bool { return true }

func (h *panicCounter) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panicked") {
		h.st.panics.Add(1)
		fmt.Println("soak: server log:", r.Message)
	}
	return nil
}

func (h *panicCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *panicCounter) WithGroup(string) slog.Handler      { return h }

// fault is one kind of injected fault: it starts the fault and returns
// how long to keep it and how to lift it (nil when nothing is to lift).
type fault struct {
	name  string
	apply func(b *serverBox, w *worker) (time.Duration, func())
}

var faults = []fault{
	{"blackhole a client 2s", func(_ *serverBox, w *worker) (time.Duration, func()) {
		w.f.Blackhole()
		return 2 * time.Second, w.f.Heal
	}},
	{"stall a client 2s", func(_ *serverBox, w *worker) (time.Duration, func()) {
		w.f.Stall(faultnet.Both)
		return 2 * time.Second, w.f.Resume
	}},
	{"latency spike 200ms on a client 3s", func(_ *serverBox, w *worker) (time.Duration, func()) {
		w.f.SetLatency(faultnet.Both, 200*time.Millisecond)
		return 3 * time.Second, w.f.Heal
	}},
	{"reset a client's connection", func(_ *serverBox, w *worker) (time.Duration, func()) {
		w.f.ResetAll()
		return 0, nil
	}},
	{"squeeze a client to 32 KiB/s 3s", func(_ *serverBox, w *worker) (time.Duration, func()) {
		w.f.SetBandwidth(faultnet.Both, 32<<10)
		return 3 * time.Second, w.f.Heal
	}},
	{"stall every server connection 1.5s", func(b *serverBox, _ *worker) (time.Duration, func()) {
		b.faults.Stall(faultnet.Both)
		return 1500 * time.Millisecond, b.faults.Resume
	}},
	{"close a client's connection", func(_ *serverBox, w *worker) (time.Duration, func()) {
		w.f.CloseAll()
		return 0, nil
	}},
	{"server Shutdown and restart", func(b *serverBox, _ *worker) (time.Duration, func()) {
		if err := b.restart(); err != nil {
			fmt.Println("soak: restart failed:", err)
		}
		return 0, nil
	}},
}

// injectFaults injects one fault every interval, rotating through faults
// and clients, until ctx ends; a held fault is lifted before the next.
func injectFaults(ctx context.Context, every time.Duration, b *serverBox, ws []*worker, st *stats) {
	defer st.recoverPanic("injectFaults")
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; i < 1<<20; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fl, w := faults[i%len(faults)], ws[i%len(ws)]
		hold, lift := fl.apply(b, w)
		st.faults.Add(1)
		fmt.Printf("fault %d: %s (client %d)\n", i+1, fl.name, w.id)
		if lift == nil {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(hold):
		}
		lift()
	}
}
