package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

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
	fs.BoolVar(&cf.plain, "plain", false, "speak bare MessagePack-RPC from the start; without it ferry tries Ferry's session\n"+
		"and falls back to it when the server answers as a plain MessagePack-RPC server (Neovim does);\n"+
		"works with Ferry servers too, but sends no deadline or metadata and gets no error codes")
	fs.DurationVar(&cf.timeout, "timeout", 10*time.Second, "deadline of connecting, and of each call, sent to Ferry servers (0: none)")
	fs.Var(&cf.headers, "H", "metadata `key=value` sent with each call (repeatable; Ferry servers only)")
	fs.BoolVar(&cf.useTLS, "tls", false, "connect with TLS (implied by -cacert, -cert, -key, -servername, -insecure)")
	fs.StringVar(&cf.caCert, "cacert", "", "PEM `file` of CA certificates that verify the server (default: the system's)")
	fs.StringVar(&cf.cert, "cert", "", "PEM `file` of a client certificate (with -key)")
	fs.StringVar(&cf.key, "key", "", "PEM `file` of the client certificate's private key")
	fs.StringVar(&cf.serverName, "servername", "", "server name to verify and to send with SNI (default: ADDR's host)")
	fs.BoolVar(&cf.insecure, "insecure", false, "TLS without verifying the server's certificate (testing only; refused on an\n"+
		"address other than localhost, a loopback IP or a unix socket unless -yes-really is given too)")
	fs.BoolVar(&cf.yesReally, "yes-really", false, "allow -insecure, or -token-file without -tls, on a non-loopback address")
	fs.StringVar(&cf.tokenFile, "token-file", "", "`file` holding the token to send (client.WithToken; Ferry servers only)")
}

// check refuses flag values that parse but mean nothing: a negative
// -timeout (0 is the way to ask for none).
func (cf *connFlags) check() error {
	if cf.timeout < 0 {
		return fmt.Errorf("-timeout %v must not be negative (0: none)", cf.timeout)
	}
	return nil
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

// tlsConfig builds the TLS configuration for ADDR, or nil for no TLS. A
// unix socket has no host name to verify: -servername names the server
// there, and -insecure is allowed as on loopback (it stays on the machine).
func (cf *connFlags) tlsConfig(addr string) (*tls.Config, error) {
	if !cf.useTLS && cf.caCert == "" && cf.cert == "" && cf.key == "" && cf.serverName == "" && !cf.insecure {
		return nil, nil
	}
	var host string
	_, local := unixPath(addr)
	if local {
		if cf.serverName == "" && !cf.insecure {
			return nil, fmt.Errorf("ferry: %s is a unix socket, with no host name to verify the server's certificate for: give -servername", addr)
		}
	} else {
		var err error
		if host, _, err = net.SplitHostPort(addr); err != nil {
			return nil, err
		}
		local = isLoopback(host)
	}
	if cf.insecure && !cf.yesReally && !local {
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

// connectContext bounds connecting by -timeout.
func (cf *connFlags) connectContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if cf.timeout > 0 {
		return context.WithTimeout(ctx, cf.timeout)
	}
	return context.WithCancel(ctx)
}

// dial connects to addr, with TLS when the flags ask for it, within
// -timeout, and speaks Ferry's session protocol or bare MessagePack-RPC:
// with -plain, or when the server answers the session's first bytes the
// way a MessagePack-RPC server answers a message it cannot read (Neovim
// does), in which case it connects again plainly. A server that answers
// with something else, or stays silent, gets an error saying so.
func (cf *connFlags) dial(ctx context.Context, addr string) (caller, error) {
	dctx, cancel := cf.connectContext(ctx)
	defer cancel()
	if cf.plain {
		return cf.dialPlain(dctx, addr)
	}
	nc, err := cf.dialConn(dctx, addr)
	if err != nil {
		return nil, err
	}
	sn := &sniffConn{Conn: nc}
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = maxMessage
	dl, bounded := dctx.Deadline()
	if bounded {
		// A quarter of the time is kept for probing a silent server.
		cfg.StreamOpenTimeout = max(time.Until(dl)*3/4, time.Millisecond)
	}
	opts := []client.Option{client.WithConfig(cfg)}
	if cf.tokenFile != "" {
		tok, err := os.ReadFile(cf.tokenFile)
		if err != nil {
			nc.Close()
			return nil, err
		}
		opts = append(opts, client.WithToken(strings.TrimSpace(string(tok))))
		if _, isTLS := nc.(*tls.Conn); isTLS || cf.yesReally {
			// Secured by this tool's TLS (sniffConn hides the *tls.Conn
			// from the client), or plain text on purpose.
			opts = append(opts, client.WithInsecureToken())
		}
	}
	// An HTTP server stays silent: Ferry's first bytes never complete its
	// request line. After a little silence, ask it an HTTP question on a
	// second connection while the session waits, and stop waiting if it
	// answers as one, rather than wait out most of -timeout first.
	var probe *httpProbe
	if bounded {
		probe = cf.startHTTPProbe(dctx, addr, sn, min(httpProbeAfter, time.Until(dl)/4))
	}
	c, err := client.New(sn, opts...)
	if err == nil {
		probe.stop()
		return &ferryConn{c: c, md: ferry.Metadata(cf.headers)}, nil
	}
	nc.Close()
	if errors.Is(err, client.ErrTokenWithoutTLS) {
		probe.stop()
		return nil, tokenInPlainText(addr)
	}
	if code := ferry.CodeOf(err); code == ferry.CodeUnauthenticated || code == ferry.CodePermissionDenied {
		return nil, err // the server answered: refused authentication
	}
	answer, closed := sn.answer()
	if len(answer) == 0 && !closed && bounded {
		// Silent: ask it something an HTTP server answers, unless the
		// probe above already did.
		var asked bool
		answer, asked = probe.result()
		if !asked {
			answer = cf.probeHTTP(dctx, addr)
		}
		if len(answer) == 0 {
			return nil, fmt.Errorf("%s accepted the connection but answered nothing within %v: not a Ferry server, or a MessagePack-RPC server that ignores what it cannot read (try -plain)", addr, cf.timeout)
		}
	}
	switch {
	case len(answer) > 0 && msgpack.IsArrayHeader(answer[0]):
		// A MessagePack-RPC server that is not Ferry's: it answered the
		// session's first bytes with a MessagePack-RPC message (Neovim:
		// [1, 0, [1, "Message is not an array"], nil]) and closed.
		pc, perr := cf.dialPlain(dctx, addr)
		if perr != nil {
			return nil, fmt.Errorf("%s answered as a plain MessagePack-RPC server, but calling it plainly failed: %w", addr, perr)
		}
		cf.plain = true // as if -plain was given: no streams, no hint to try it, later dials plain at once
		return pc, nil
	case len(answer) > 0:
		return nil, fmt.Errorf("%s is not a Ferry or MessagePack-RPC server: %s", addr, describeAnswer(answer))
	}
	return nil, fmt.Errorf("%w\nferry: hint: %s", err, plainHint)
}

// httpProbeAfter is how long the session waits for a server's first
// bytes before ferry also asks it an HTTP question (at most a quarter of
// the time left to connect).
const httpProbeAfter = time.Second

// httpProbe is an HTTP question asked while the session waits.
type httpProbe struct {
	timer  *time.Timer
	done   chan struct{}
	answer []byte
}

// startHTTPProbe asks addr an HTTP question after wait, unless the server
// has sent something on the session's connection by then; an answer that
// is HTTP closes that connection, which ends the session's wait.
func (cf *connFlags) startHTTPProbe(ctx context.Context, addr string, sn *sniffConn, wait time.Duration) *httpProbe {
	p := &httpProbe{done: make(chan struct{})}
	p.timer = time.AfterFunc(wait, func() {
		defer close(p.done)
		if a, closed := sn.answer(); len(a) > 0 || closed {
			return
		}
		p.answer = cf.probeHTTP(ctx, addr)
		if bytes.HasPrefix(p.answer, []byte("HTTP/")) {
			sn.Close()
		}
	})
	return p
}

// result returns the probe's answer once it is in, and whether the
// question was asked at all (it is not, once result or stop was called
// first).
func (p *httpProbe) result() ([]byte, bool) {
	if p == nil || p.timer.Stop() {
		return nil, false
	}
	<-p.done
	return p.answer, true
}

// stop cancels the probe if it has not started.
func (p *httpProbe) stop() {
	if p != nil {
		p.timer.Stop()
	}
}

// probeHTTP sends an HTTP request on a new connection and returns the
// first bytes of the answer, if any comes before ctx ends.
func (cf *connFlags) probeHTTP(ctx context.Context, addr string) []byte {
	nc, err := cf.dialConn(ctx, addr)
	if err != nil {
		return nil
	}
	defer nc.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	if _, err := io.WriteString(nc, "HEAD / HTTP/1.0\r\n\r\n"); err != nil {
		return nil
	}
	b := make([]byte, sniffBytes)
	n, _ := io.ReadAtLeast(nc, b, 5)
	return b[:n]
}

// describeAnswer names what a server that is not Ferry's sent first.
func describeAnswer(b []byte) string {
	if line, ok := bytes.CutPrefix(b, []byte("HTTP/")); ok {
		line, _, _ = bytes.Cut(line, []byte("\r\n"))
		return fmt.Sprintf("it is an HTTP server (it answered %q)", "HTTP/"+string(line))
	}
	if (b[0] == 0x15 || b[0] == 0x16) && len(b) > 1 && b[1] == 0x03 {
		return "it answered with a TLS record: a TLS port (try -tls)"
	}
	n := min(len(b), 16)
	if utf8.Valid(b[:n]) && bytes.IndexFunc(b[:n], func(r rune) bool { return r < ' ' && r != '\r' && r != '\n' && r != '\t' }) < 0 {
		return fmt.Sprintf("it answered %q", b[:n])
	}
	return fmt.Sprintf("it answered bytes % x", b[:n])
}

// dialPlain connects and speaks bare MessagePack-RPC.
func (cf *connFlags) dialPlain(ctx context.Context, addr string) (caller, error) {
	nc, err := cf.dialConn(ctx, addr)
	if err != nil {
		return nil, err
	}
	cfg := transport.DefaultConfig()
	cfg.MaxMessageSize = maxMessage
	c, err := client.New(nc, client.WithPlainMsgpackRPC(), client.WithConfig(cfg))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &ferryConn{c: c, plain: true}, nil
}

// dialConn opens the connection, "unix:PATH" or an absolute path a unix
// socket and anything else TCP, and completes the TLS handshake the flags
// ask for.
func (cf *connFlags) dialConn(ctx context.Context, addr string) (net.Conn, error) {
	network, address := "tcp", addr
	if path, ok := unixPath(addr); ok {
		network, address = "unix", path
	}
	tcfg, err := cf.tlsConfig(addr)
	if err != nil {
		return nil, err
	}
	if tcfg == nil && network == "tcp" && cf.tokenFile != "" && !cf.yesReally {
		if host, _, err := net.SplitHostPort(address); err == nil && !isLoopback(host) {
			return nil, tokenInPlainText(addr)
		}
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("no connection within %v: %w", cf.timeout, err)
		}
		return nil, err
	}
	if tcfg != nil {
		tc := tls.Client(nc, tcfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("ferry: TLS handshake with %s: %w", addr, err)
		}
		nc = tc
	}
	return nc, nil
}

// unixPath returns the socket path of a unix socket's ADDR: "unix:PATH",
// or an absolute path (such as Neovim's v:servername).
func unixPath(addr string) (string, bool) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return path, true
	}
	return addr, strings.HasPrefix(addr, "/")
}

// tokenInPlainText is the error of -token-file without TLS to addr, an
// address that is not loopback.
func tokenInPlainText(addr string) error {
	return fmt.Errorf("ferry: -token-file without -tls would send the token in plain text to %s, where anyone on the path could read and replay it; connect with -tls, or give -yes-really too if that is what you want", addr)
}

// sniffConn keeps the first bytes a server sends, to tell what kind of
// server refused the session, and whether it closed the connection.
type sniffConn struct {
	net.Conn
	mu     sync.Mutex
	first  []byte
	closed bool // the server closed or reset the connection
}

const sniffBytes = 64

func (s *sniffConn) Read(p []byte) (int, error) {
	n, err := s.Conn.Read(p)
	s.mu.Lock()
	if k := min(n, sniffBytes-len(s.first)); k > 0 {
		s.first = append(s.first, p[:k]...)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		s.closed = true
	}
	s.mu.Unlock()
	return n, err
}

// answer returns the first bytes the server sent, and whether it closed
// the connection.
func (s *sniffConn) answer() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.first...), s.closed
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

// warnPlain says what a plain connection does not carry.
func (cf *connFlags) warnPlain(e *env, c caller) {
	fc, ok := c.(*ferryConn)
	if !ok || !fc.plain {
		return
	}
	if len(cf.headers) > 0 {
		e.printf("ferry: warning: plain MessagePack-RPC sends no metadata; -H ignored")
	}
	if cf.tokenFile != "" {
		e.printf("ferry: warning: plain MessagePack-RPC sends no token; -token-file ignored")
	}
}

// ferryConn calls over a Ferry client, over a session or (plain) bare
// MessagePack-RPC.
type ferryConn struct {
	c     *client.Client
	md    ferry.Metadata
	plain bool
}

// call sends the params array as it is (client.Params), so that a Ferry
// server decodes exactly what it would from the same array sent by any
// MessagePack-RPC client.
func (f *ferryConn) call(ctx context.Context, method string, params []byte) (codec.Raw, error) {
	args, err := splitParams(params)
	if err != nil {
		return nil, err
	}
	if len(f.md) > 0 {
		ctx = ferry.WithOutgoingMetadata(ctx, f.md)
	}
	var reply codec.Raw
	if err := f.c.Call(ctx, method, args, &reply); err != nil {
		return nil, err
	}
	if len(reply) == 0 {
		reply = codec.Raw{0xc0} // the client decodes a nil result as an empty Raw
	}
	return reply, nil
}

// splitParams turns an encoded params array into client.Params whose
// elements are the encoded values.
func splitParams(params []byte) (client.Params, error) {
	n, hdr, ok := msgpack.ArrayLen(params)
	if !ok {
		return nil, errors.New("ferry: params must be an array")
	}
	args := make(client.Params, 0, n)
	rest := params[hdr:]
	for range n {
		k, err := msgpack.Skip(rest)
		if err != nil {
			return nil, fmt.Errorf("ferry: params: %w", err)
		}
		args = append(args, codec.Raw(rest[:k]))
		rest = rest[k:]
	}
	return args, nil
}

// Close ends the connection.
func (f *ferryConn) Close() error { return f.c.Close() }
