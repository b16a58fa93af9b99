package main

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
)

// plainConn is a bare MessagePack-RPC client: requests [0, id, method,
// params] with params sent exactly as given, which the Go client cannot
// do (it always sends [args]); Neovim's nvim_buf_get_lines(0, 0, -1, false)
// needs four params. Calls from the server are answered with an error,
// notifications ignored.
type plainConn struct {
	nc   net.Conn
	wmu  sync.Mutex // one request written at a time
	mu   sync.Mutex
	next uint32
	wait map[uint32]chan plainResult
	err  error // why the connection ended
	done chan struct{}
}

type plainResult struct {
	result codec.Raw
	err    error
}

func newPlainConn(nc net.Conn) *plainConn {
	p := &plainConn{nc: nc, wait: map[uint32]chan plainResult{}, done: make(chan struct{})}
	go p.read()
	return p
}

func (p *plainConn) call(ctx context.Context, method string, params []byte) (codec.Raw, error) {
	ch := make(chan plainResult, 1)
	p.mu.Lock()
	if p.err != nil {
		p.mu.Unlock()
		return nil, p.err
	}
	p.next++
	id := p.next
	p.wait[id] = ch
	p.mu.Unlock()

	msg := msgpack.AppendArrayHeader(nil, 4)
	msg = msgpack.AppendUint(append(msg, wire.TypeRequest), uint64(id))
	msg = append(msgpack.AppendString(msg, method), params...)
	p.wmu.Lock()
	_, err := p.nc.Write(msg)
	p.wmu.Unlock()
	if err != nil {
		p.forget(id)
		return nil, ferry.WrapError(ferry.CodeUnavailable, err, "send: "+err.Error())
	}
	select {
	case r := <-ch:
		return r.result, r.err
	case <-ctx.Done():
		p.forget(id)
		return nil, ctx.Err()
	}
}

func (p *plainConn) forget(id uint32) {
	p.mu.Lock()
	delete(p.wait, id)
	p.mu.Unlock()
}

// read delivers responses until the connection ends, then fails the calls
// still waiting.
func (p *plainConn) read() {
	defer close(p.done)
	r := wire.NewReader(p.nc, wire.Limits{MaxMessage: maxMessage, MaxDepth: codec.MaxDepth})
	var err error
	for {
		var b []byte
		if b, err = r.Next(); err != nil {
			break
		}
		var m wire.Message
		if m, err = wire.Parse(b); err != nil {
			break
		}
		switch m.Type {
		case wire.TypeResponse:
			p.deliver(m)
		case wire.TypeRequest:
			p.refuse(m.ID)
		}
	}
	p.mu.Lock()
	p.err = ferry.WrapError(ferry.CodeUnavailable, err, "connection lost: "+err.Error())
	for id, ch := range p.wait {
		ch <- plainResult{err: p.err}
		delete(p.wait, id)
	}
	p.mu.Unlock()
}

func (p *plainConn) deliver(m wire.Message) {
	p.mu.Lock()
	ch := p.wait[m.ID]
	delete(p.wait, m.ID)
	p.mu.Unlock()
	if ch == nil {
		return // abandoned
	}
	if m.Error != nil {
		ch <- plainResult{err: plainError(m.Error)}
		return
	}
	ch <- plainResult{result: append(codec.Raw(nil), m.Result...)}
}

// plainError turns an error value of any shape into a *ferry.Error with
// CodeUnknown: a string is the message, other values their JSON text
// (Neovim sends [type, "message"]).
func plainError(v []byte) error {
	if s, err := msgpack.ReadStringBytes(v); err == nil {
		return ferry.NewError(ferry.CodeUnknown, string(s))
	}
	j, err := toJSON(v, jsonOptions{})
	if err != nil {
		return ferry.NewError(ferry.CodeUnknown, "undecodable error value")
	}
	return ferry.NewError(ferry.CodeUnknown, string(j))
}

func (p *plainConn) refuse(id uint32) {
	msg := msgpack.AppendArrayHeader(nil, 4)
	msg = msgpack.AppendUint(append(msg, wire.TypeResponse), uint64(id))
	msg = msgpack.AppendNil(msgpack.AppendString(msg, "ferry: the ferry CLI serves no methods"))
	p.wmu.Lock()
	_, _ = p.nc.Write(msg)
	p.wmu.Unlock()
}

// Close closes the connection and waits for the reader to exit.
func (p *plainConn) Close() error {
	err := p.nc.Close()
	<-p.done
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}
