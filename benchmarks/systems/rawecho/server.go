package rawecho

import (
	"bufio"
	"context"
	"io"
	"net"
	"sync"

	"github.com/ferryrpc/ferry/benchmarks/bench"
)

// server accepts connections and echoes every frame back with its id.
type server struct {
	sys *system
	l   net.Listener
	wg  sync.WaitGroup

	mu    sync.Mutex
	conns map[io.Closer]struct{}
}

func (sys *system) Listen() (bench.Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &server{sys: sys, l: l, conns: map[io.Closer]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *server) accept() {
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
			s.serveConn(nc)
			s.mu.Lock()
			delete(s.conns, nc)
			s.mu.Unlock()
		}()
	}
}

func (s *server) serveConn(nc net.Conn) {
	defer nc.Close()
	st, closeStream, err := s.sys.accept(nc)
	if err != nil {
		return
	}
	defer closeStream()
	w := newBatchWriter(st)
	defer w.close()
	r := bufio.NewReaderSize(st, readBufSize)
	var hdr [headerSize]byte
	var buf []byte
	for {
		var id uint32
		var err error
		if id, buf, err = readFrame(r, &hdr, buf); err != nil {
			return
		}
		if w.send(id, buf) != nil {
			return
		}
	}
}

func (s *server) Dial(ctx context.Context) (bench.Client, error) {
	return s.sys.dial(ctx, s.l.Addr().String())
}

func (s *server) Close() error {
	s.l.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}
