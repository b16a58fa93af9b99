// Package rawecho is the practical limit the RPC systems are measured
// against: an id-framed echo (8-byte header: call id and length, then the
// payload), calls multiplexed by id over one stream, writes batched, no
// codec. It runs over a bare TCP connection, and over ONE yamux stream.
package rawecho

import (
	"context"
	"io"
	"net"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/hashicorp/yamux"
)

type system struct {
	name string
	// accept turns an accepted connection into the stream to serve, and a
	// function that releases what it built on top of the connection.
	accept func(nc net.Conn) (io.ReadWriteCloser, func(), error)
	// wrap turns a dialed connection into the stream to call on, and the
	// closers to run after the stream's.
	wrap func(nc net.Conn) (io.ReadWriteCloser, []io.Closer, error)
}

// TCP returns the echo over a bare TCP connection ("tcp-raw").
func TCP() bench.System {
	return &system{
		name: "tcp-raw",
		accept: func(nc net.Conn) (io.ReadWriteCloser, func(), error) {
			return nc, func() {}, nil
		},
		wrap: func(nc net.Conn) (io.ReadWriteCloser, []io.Closer, error) {
			return nc, nil, nil
		},
	}
}

// Yamux returns the echo over one yamux stream with yamux's default
// configuration (256 KiB window) ("yamux-raw").
func Yamux() bench.System {
	return &system{
		name: "yamux-raw",
		accept: func(nc net.Conn) (io.ReadWriteCloser, func(), error) {
			sess, err := yamux.Server(nc, yamuxConfig())
			if err != nil {
				return nil, nil, err
			}
			st, err := sess.AcceptStream()
			if err != nil {
				sess.Close()
				return nil, nil, err
			}
			return st, func() { st.Close(); sess.Close() }, nil
		},
		wrap: func(nc net.Conn) (io.ReadWriteCloser, []io.Closer, error) {
			sess, err := yamux.Client(nc, yamuxConfig())
			if err != nil {
				return nil, nil, err
			}
			st, err := sess.OpenStream()
			if err != nil {
				sess.Close()
				return nil, nil, err
			}
			return st, []io.Closer{sess}, nil
		},
	}
}

func yamuxConfig() *yamux.Config {
	cfg := yamux.DefaultConfig()
	cfg.LogOutput = io.Discard
	return cfg
}

func (sys *system) Name() string { return sys.name }

func (sys *system) dial(ctx context.Context, addr string) (bench.Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	st, closers, err := sys.wrap(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return newClient(st, append(closers, nc)...), nil
}
