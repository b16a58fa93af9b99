package server

import (
	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/engine"
	"github.com/ferryrpc/ferry/internal/wire"
)

// A connection's control plane: the reserved methods its clients call on
// their call streams, and authentication.

// control serves the reserved methods of the connection's call streams:
// the client's hello (authentication), and the notifications of its
// settling after a go-away and of the out-of-band cancel of a streaming
// call (the engine refuses those two sent as requests).
func (c *netConn) control(method string, params []byte) (any, error) {
	switch method {
	case wire.MethodHello:
		var hello struct {
			Token  string `msgpack:"token"`
			Settle bool   `msgpack:"settle"`
		}
		if p, _, ok := wire.FirstParam(params); ok { // the rest is never decoded
			_ = codec.Unmarshal(p, &hello)
		}
		if hello.Settle {
			c.mu.Lock()
			if c.peerSettled == nil {
				c.peerSettled = make(chan struct{})
			}
			c.mu.Unlock()
		}
		if c.s.opts.auth == nil {
			return c.helloAnswer(), nil
		}
		return c.authenticate(hello.Token)
	case wire.MethodSettled:
		c.mu.Lock()
		if ch := c.peerSettled; ch != nil {
			c.settleOnce.Do(func() { close(ch) })
		}
		c.mu.Unlock()
		return nil, nil
	case wire.MethodCancelStream:
		var id uint32
		if p, n, ok := wire.FirstParam(params); !ok || n != 1 || codec.Unmarshal(p, &id) != nil {
			return nil, nil
		}
		c.streamCancels.Cancel(id)
		return nil, nil
	}
	return nil, ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnimplemented, "unknown method %q", wire.EchoName(method)))
}

func (c *netConn) isAuthenticated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.authed
}

// maxAuthAttempts bounds the AuthFunc's runs on one connection, so that
// a client cannot try token after token on it.
const maxAuthAttempts = 3

// errAuthAttempts answers every hello after maxAuthAttempts failures.
var errAuthAttempts = ferry.MarkNotExecuted(ferry.Errorf(ferry.CodeUnauthenticated, "too many failed authentication attempts on this connection"))

// authenticate runs the server's AuthFunc until it succeeds once on the
// connection (at most maxAuthAttempts times) and unlocks its engines on
// success.
func (c *netConn) authenticate(token string) (any, error) {
	c.mu.Lock()
	if c.authed {
		c.mu.Unlock()
		return c.helloAnswer(), nil
	}
	if c.authFailures >= maxAuthAttempts {
		c.mu.Unlock()
		return nil, errAuthAttempts
	}
	c.authFailures++ // counted before the run: concurrent hellos cannot exceed the bound
	info := ferry.AuthInfo{RemoteAddr: c.nc.RemoteAddr(), TLS: c.tlsState, Token: token}
	c.mu.Unlock()
	identity, err := c.s.opts.auth(c.ctx, info)
	if err != nil {
		c.s.opts.logger.Warn("ferry: authentication failed", "remote", info.RemoteAddr, "err", err)
		fe := ferry.FromError(err)
		if fe.Code == ferry.CodeUnknown {
			fe = ferry.NewError(ferry.CodeUnauthenticated, fe.Message)
		}
		return nil, ferry.MarkNotExecuted(fe)
	}
	c.mu.Lock()
	c.authed, c.identity = true, identity
	engines := make([]*engine.Channel, 0, len(c.engines))
	for e := range c.engines {
		engines = append(engines, e)
	}
	c.mu.Unlock()
	for _, e := range engines {
		e.Authenticate(identity)
	}
	return c.helloAnswer(), nil
}

// helloAnswer is the answer to a hello the server accepts: its own message
// and nesting limits, which the client's connection then sends nothing
// past (the engine learned the client's from the hello before control
// ran).
func (c *netConn) helloAnswer() wire.HelloAnswer {
	return wire.HelloAnswer{Max: uint64(c.s.opts.cfg.MaxMessageSize), Depth: wire.SaidDepth(c.s.opts.cfg.MaxDepth)}
}
