package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/transport"
)

// maxMessage bounds one message the CLI reads: bigger than a server's
// default, since replies such as Neovim's nvim_get_api_info are large.
const maxMessage = 64 << 20

// connFlags are the connection flags every command shares.
type connFlags struct {
	plain      bool
	timeout    time.Duration
	headers    headerFlag
	useTLS     bool
	caCert     string
	cert, key  string
	serverName string
	insecure   bool
	yesReally  bool
	tokenFile  string
}

func (cf *connFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&cf.plain, "plain", false, "speak bare MessagePack-RPC, for servers that are not Ferry (Neovim, Python, Node);\n"+
		"works with Ferry servers too, but sends no deadline or metadata and gets no error codes")
	fs.DurationVar(&cf.timeout, "timeout", 10*time.Second, "deadline of each call, sent to Ferry servers (0: none)")
	fs.Var(&cf.headers, "H", "metadata `key=value` sent with each call (repeatable; Ferry servers only)")
	fs.BoolVar(&cf.useTLS, "tls", false, "connect with TLS (implied by -cacert, -cert, -servername, -insecure)")
	fs.StringVar(&cf.caCert, "cacert", "", "PEM `file` of CA certificates that verify the server (default: the system's)")
	fs.StringVar(&cf.cert, "cert", "", "PEM `file` of a client certificate (with -key)")
	fs.StringVar(&cf.key, "key", "", "PEM `file` of the client certificate's private key")
	fs.StringVar(&cf.serverName, "servername", "", "server name to verify and to send with SNI (default: ADDR's host)")
	fs.BoolVar(&cf.insecure, "insecure", false, "TLS without verifying the server's certificate (testing only; refused on an\n"+
		"address other than localhost or a loopback IP unless -yes-really is given too)")
	fs.BoolVar(&cf.yesReally, "yes-really", false, "allow -insecure on a non-loopback address")
	fs.StringVar(&cf.tokenFile, "token-file", "", "`file` holding the token to send (client.WithToken; Ferry servers only)")
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// headerFlag collects -H key=value flags.
type headerFlag ferry.Metadata

// String returns "": flag's default value display needs nothing.
func (h *headerFlag) String() string { return "" }

// Set adds one key=value pair.
func (h *headerFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", s)
	}
	if *h == nil {
		*h = headerFlag{}
	}
	(*h)[k] = v
	return nil
}

// tlsConfig builds the TLS configuration, or nil for plain TCP.
func (cf *connFlags) tlsConfig(addr string) (*tls.Config, error) {
	if !cf.useTLS && cf.caCert == "" && cf.cert == "" && cf.serverName == "" && !cf.insecure {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if cf.insecure && !cf.yesReally && !isLoopback(host) {
		return nil, fmt.Errorf("ferry: -insecure turns off the check of the server's certificate: on %s, anyone on the path could read and change the calls; give -yes-really too if that is what you want", host)
	}
	cfg := &tls.Config{ServerName: cf.serverName, InsecureSkipVerify: cf.insecure, MinVersion: tls.VersionTLS12}
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	if cf.caCert != "" {
		pem, err := os.ReadFile(cf.caCert)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ferry: no PEM certificate in %s", cf.caCert)
		}
	}
	if (cf.cert == "") != (cf.key == "") {
		return nil, errors.New("ferry: -cert and -key go together")
	}
	if cf.cert != "" {
		pair, err := tls.LoadX509KeyPair(cf.cert, cf.key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// caller is one connection that can make calls with an already encoded
// MessagePack params array and return the raw result.
type caller interface {
	call(ctx context.Context, method string, params []byte) (codec.Raw, error)
	Close() error
}

// dial connects to addr, with TLS when the flags ask for it, and speaks
// Ferry's session protocol or, with -plain, bare MessagePack-RPC.
func (cf *connFlags) dial(ctx context.Context, addr string) (caller, error) {
	tcfg, err := cf.tlsConfig(addr)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tcfg != nil {
		tc := tls.Client(nc, tcfg)
		if err := tc.HandshakeContext(dctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("ferry: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	if cf.plain {
		return newPlainConn(nc), nil
	}
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = maxMessage
	opts := []client.Option{client.WithConfig(cfg)}
	if cf.tokenFile != "" {
		tok, err := os.ReadFile(cf.tokenFile)
		if err != nil {
			nc.Close()
			return nil, err
		}
		opts = append(opts, client.WithToken(strings.TrimSpace(string(tok))))
	}
	c, err := client.New(nc, opts...)
	if err != nil {
		nc.Close()
		if ferry.CodeOf(err) != ferry.CodeUnavailable {
			return nil, err // the server answered: refused authentication
		}
		return nil, fmt.Errorf("%w\nferry: hint: %s", err, plainHint)
	}
	return &ferryConn{c: c, md: ferry.Metadata(cf.headers)}, nil
}

// plainHint is shown when a server does not speak Ferry's protocol.
const plainHint = "a server that is not a Ferry server (Neovim, a Python or Node MessagePack-RPC server) needs -plain"

// callContext bounds one call by -timeout.
func (cf *connFlags) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if cf.timeout > 0 {
		return context.WithTimeout(ctx, cf.timeout)
	}
	return context.WithCancel(ctx)
}

// warnPlain says what -plain does not carry.
func (cf *connFlags) warnPlain(e *env) {
	if cf.plain && len(cf.headers) > 0 {
		e.printf("ferry: warning: -plain sends no metadata; -H ignored")
	}
}

// ferryConn calls over a Ferry client.
type ferryConn struct {
	c  *client.Client
	md ferry.Metadata
}

// call maps the params array onto the Go client's single args value so
// that a Ferry server decodes exactly what it would from the same array
// sent as bare MessagePack-RPC params: [] is no args, [x] is x, and
// [a, b, ...] is sent whole, which the server decodes into args the same
// way (a struct's fields in order, or a slice's elements).
func (f *ferryConn) call(ctx context.Context, method string, params []byte) (codec.Raw, error) {
	var args any
	switch n, hdr, ok := msgpack.ArrayLen(params); {
	case !ok:
		return nil, errors.New("ferry: params must be an array")
	case n == 0:
	case n == 1:
		args = codec.Raw(params[hdr:])
	default:
		args = codec.Raw(params)
	}
	if len(f.md) > 0 {
		ctx = ferry.WithOutgoingMetadata(ctx, f.md)
	}
	var reply codec.Raw
	if err := f.c.Call(ctx, method, args, &reply); err != nil {
		return nil, err
	}
	return reply, nil
}

// Close ends the connection.
func (f *ferryConn) Close() error { return f.c.Close() }
