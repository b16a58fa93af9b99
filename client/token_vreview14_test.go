package client_test

import (
	"net"
	"testing"

	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview14TokenTypedNilAddr: a conn whose RemoteAddr is a nil
// *net.TCPAddr, *net.UDPAddr or *net.IPAddr (a wrapper that knows no
// address) does not make New panic: an address not known to be loopback
// is refused, as an unparsable one is (ErrTokenWithoutTLS).
func TestVreview14TokenTypedNilAddr(t *testing.T) {
	for name, remote := range map[string]net.Addr{
		"tcp": (*net.TCPAddr)(nil),
		"udp": (*net.UDPAddr)(nil),
		"ip":  (*net.IPAddr)(nil),
	} {
		t.Run(name, func(t *testing.T) {
			cc, sc := net.Pipe()
			defer sc.Close()
			var err error
			require.NotPanics(t, func() {
				var c *client.Client
				c, err = client.New(farConn{cc, remote}, client.WithToken("s3cret-token"))
				if c != nil {
					c.Close()
				}
			})
			assert.ErrorIs(t, err, client.ErrTokenWithoutTLS)
		})
	}
}
