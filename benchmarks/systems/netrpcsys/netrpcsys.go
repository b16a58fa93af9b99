// Package netrpcsys runs the standard library's net/rpc with its default
// gob codec over TCP ("netrpc-gob"): one rpc.Client shared by every worker.
// Gob ignores MessagePack's field tags, so message.Array travels in gob as
// message.Message does.
package netrpcsys

import (
	"bytes"
	"context"
	"encoding/gob"
	"net"
	"net/rpc"
	"sync"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
)

type system struct{}

// Gob returns net/rpc with gob.
func Gob() bench.System { return system{} }

func (system) Name() string { return "netrpc-gob" }

// Bench is the net/rpc service; net/rpc needs it exported.
type Bench struct{}

// Echo returns the message it was sent.
func (Bench) Echo(args *message.Message, reply *message.Message) error {
	*reply = *args
	return nil
}

// EchoArray returns the as_array record it was sent.
func (Bench) EchoArray(args *message.Array, reply *message.Array) error {
	*reply = *args
	return nil
}

// EchoNumbers returns the string-free record it was sent.
func (Bench) EchoNumbers(args *message.Numbers, reply *message.Numbers) error {
	*reply = *args
	return nil
}

// methods name the echo of each record.
var methods = map[message.Kind]string{
	message.Default:   "Bench.Echo",
	message.AsArray:   "Bench.EchoArray",
	message.NoStrings: "Bench.EchoNumbers",
}

type srv struct {
	rs *rpc.Server
	l  net.Listener
	wg sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (system) Listen() (bench.Server, error) {
	rs := rpc.NewServer()
	if err := rs.RegisterName("Bench", Bench{}); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &srv{rs: rs, l: l, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// accept is rpc.Server.Accept, but it tracks connections so Close can end
// them and wait for their goroutines.
func (s *srv) accept() {
	defer s.wg.Done()
	for {
		nc, err := s.l.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.rs.ServeConn(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
}

func (s *srv) Dial(ctx context.Context) (bench.Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", s.l.Addr().String())
	if err != nil {
		return nil, err
	}
	return conn{rpc.NewClient(nc)}, nil
}

func (s *srv) Close() error {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

type conn struct{ c *rpc.Client }

func (c conn) Close() error { return c.c.Close() }

func (c conn) NewCaller(w bench.Workload) (bench.Caller, error) {
	if w.Bulk > 0 {
		return nil, bench.ErrUnsupported
	}
	return &caller{c: c.c, kind: w.Message, method: methods[w.Message], args: w.Message.New(), reply: w.Message.Zero()}, nil
}

type caller struct {
	c      *rpc.Client
	kind   message.Kind
	method string
	args   any
	reply  any
}

// Call ignores ctx: net/rpc has no context.
func (k *caller) Call(context.Context) error { return k.c.Call(k.method, k.args, k.reply) }

func (k *caller) Check() error { return bench.CheckMessage(k.kind, k.reply) }

// GobSize returns the size of k's record in gob once the type has been
// described on the stream (what every call after the first sends).
func GobSize(k message.Kind) int {
	var buf bytes.Buffer
	enc := gob.NewEncoder(&buf)
	m := k.New()
	if enc.Encode(m) != nil {
		return 0
	}
	n := buf.Len()
	if enc.Encode(m) != nil {
		return 0
	}
	return buf.Len() - n
}
