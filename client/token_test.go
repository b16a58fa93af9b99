package client_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// farConn is one end of an in-memory pipe that reports a peer address of
// its choosing, so a test can stand for a peer on another machine without
// sending anything anywhere.
type farConn struct {
	net.Conn
	remote net.Addr
}

func (c farConn) RemoteAddr() net.Addr { return c.remote }

// fakeAddr is an address type the client does not know.
type fakeAddr struct{ network, s string }

func (a fakeAddr) Network() string { return a.network }
func (a fakeAddr) String() string  { return a.s }

// tlsLike has a TLS connection's ConnectionState method, as a conn that
// wraps TLS may.
type tlsLike struct{ farConn }

func (tlsLike) ConnectionState() tls.ConnectionState { return tls.ConnectionState{} }

// tokenServer is a server that authenticates every connection and
// records the token each hello brought.
func tokenServer(t *testing.T) (*server.Server, *[]string, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	var tokens []string
	s := server.New(server.WithAuth(func(_ context.Context, info ferry.AuthInfo) (any, error) {
		mu.Lock()
		defer mu.Unlock()
		tokens = append(tokens, info.Token)
		return info.Token, nil
	}))
	t.Cleanup(func() { s.Close() })
	return s, &tokens, &mu
}

// TestTokenNotSentInPlainTextOffThisMachine: a token without TLS is refused
// before any byte is written when the peer's address is an IP address
// that is not loopback, whatever the address type; the error says why and
// how to allow it.
func TestTokenNotSentInPlainTextOffThisMachine(t *testing.T) {
	for name, remote := range map[string]net.Addr{
		"tcp4":          &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 7000},
		"tcp6":          &net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 7000},
		"udp":           &net.UDPAddr{IP: net.IPv4(198, 51, 100, 1), Port: 7000},
		"other tcp":     fakeAddr{"tcp", "203.0.113.9:7000"},
		"unparsable ip": fakeAddr{"tcp", "some-host:7000"},
	} {
		t.Run(name, func(t *testing.T) {
			cc, sc := net.Pipe()
			defer sc.Close()
			got := make(chan int, 1)
			go func() {
				n, _ := io.Copy(io.Discard, sc)
				got <- int(n)
			}()
			c, err := client.New(farConn{cc, remote}, client.WithToken("s3cret-token"))
			if c != nil {
				c.Close()
			}
			require.Error(t, err)
			t.Log(err)
			assert.ErrorIs(t, err, client.ErrTokenWithoutTLS)
			assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err))
			assert.True(t, ferry.NotExecuted(err))
			assert.Contains(t, err.Error(), remote.String())
			assert.Contains(t, err.Error(), "WithInsecureToken")
			assert.NotContains(t, err.Error(), "s3cret")
			select {
			case n := <-got:
				assert.Zero(t, n, "bytes written before the refusal")
			case <-time.After(5 * time.Second):
				t.Fatal("the client did not close the connection it refused")
			}
		})
	}
}

// TestTokenAllowedOnThisMachineOrWhenSecured: loopback (v4 and v6), unix
// sockets, pipes, a conn with TLS's ConnectionState and WithInsecureToken
// all send the token in the hello, which the server receives.
func TestTokenAllowedOnThisMachineOrWhenSecured(t *testing.T) {
	for name, tc := range map[string]struct {
		wrap func(net.Conn) net.Conn
		opts []client.Option
	}{
		"loopback v4": {wrap: func(c net.Conn) net.Conn {
			return farConn{c, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 7000}}
		}},
		"loopback v6": {wrap: func(c net.Conn) net.Conn { return farConn{c, &net.TCPAddr{IP: net.IPv6loopback, Port: 7000}} }},
		"unix":        {wrap: func(c net.Conn) net.Conn { return farConn{c, &net.UnixAddr{Name: "/run/x.sock", Net: "unix"}} }},
		"pipe":        {wrap: func(c net.Conn) net.Conn { return c }},
		"tls-like conn": {wrap: func(c net.Conn) net.Conn {
			return tlsLike{farConn{c, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 7000}}}
		}},
		"WithInsecureToken": {
			wrap: func(c net.Conn) net.Conn { return farConn{c, &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 7000}} },
			opts: []client.Option{client.WithInsecureToken()},
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, tokens, mu := tokenServer(t)
			cc, sc := net.Pipe()
			go func() { _ = s.ServeConn(sc) }()
			c, err := client.New(tc.wrap(cc), append([]client.Option{client.WithToken("tok-" + name)}, tc.opts...)...)
			require.NoError(t, err)
			defer c.Close()
			mu.Lock()
			defer mu.Unlock()
			assert.Equal(t, []string{"tok-" + name}, *tokens)
		})
	}
}

// TestDialTokenOverLoopbackTCP: Dial to 127.0.0.1 with a token and no TLS
// works as before, and the error of a refused token is not an errors.Is
// match for anything but ErrTokenWithoutTLS.
func TestDialTokenOverLoopbackTCP(t *testing.T) {
	s, tokens, mu := tokenServer(t)
	addr := ferrytest.Serve(t, s)
	c, err := client.Dial(t.Context(), addr, client.WithToken("loopback-token"))
	require.NoError(t, err)
	defer c.Close()
	mu.Lock()
	assert.Equal(t, []string{"loopback-token"}, *tokens)
	mu.Unlock()
	assert.False(t, errors.Is(ferry.NewError(ferry.CodeUnauthenticated, "x"), client.ErrTokenWithoutTLS))
}
