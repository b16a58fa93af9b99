//go:build !linux

package server

import (
	"context"
	"errors"
	"net"
)

// ListenReusePort listens with SO_REUSEPORT on Linux (see the Linux
// documentation of this function: a restart that refuses no connection).
// On this system it only returns an error: SO_REUSEPORT here either does
// not exist or does not spread connections across the listeners.
func ListenReusePort(ctx context.Context, network, addr string) (net.Listener, error) {
	if err := checkReuseNetwork(network); err != nil {
		return nil, err
	}
	return nil, errors.New("ferry: ListenReusePort needs Linux (SO_REUSEPORT that balances connections across listeners)")
}
