//go:build !linux

package transport

import (
	"errors"
	"net"
	"time"
)

// SetUserTimeout sets TCP_USER_TIMEOUT and tunes kernel keepalive on
// Linux (see the Linux build of this function); on this system it only
// checks d and does nothing else.
func SetUserTimeout(c net.Conn, d time.Duration) error {
	if d < 0 {
		return errors.New("ferry: negative TCP user timeout")
	}
	return nil
}
