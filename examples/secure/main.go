// Command secure runs a Ferry server with mutual TLS, bearer tokens and an
// authorization policy, then five clients against it, and prints what each
// got: one that succeeds, one with a certificate from the wrong CA, one
// whose token is revoked (in the token file, while the server runs), one
// calling a method its policy denies, and one presenting another
// identity's token. Certificates and tokens are made at start, in a
// temporary directory: no private key is committed.
//
//	go run ./examples/secure
//
// With -serve it keeps serving on -addr, with its files in -dir, for your
// own clients to try (it prints a ferry CLI command that works):
//
//	go run ./examples/secure -serve -addr 127.0.0.1:7443 -dir /tmp/ferry-secure
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/server"
)

// policyJSON is the authorization policy: alice may call every Greeter
// method, bob only Greeter.Hello; nobody may call Admin.Reset, since
// nothing allows it (default deny).
const policyJSON = `[
	{"identity": "spiffe://example.org/alice", "allow": ["Greeter.*"]},
	{"identity": "spiffe://example.org/bob",   "allow": ["Greeter.Hello"]}
]`

// The identities: SPIFFE IDs in the client certificates, and the same
// names in the token file, so that auth.Matching can require a token to
// come with its owner's certificate.
const (
	aliceID = "spiffe://example.org/alice"
	bobID   = "spiffe://example.org/bob"
)

func main() {
	serve := flag.Bool("serve", false, "keep serving until interrupted instead of running the clients")
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	dir := flag.String("dir", "", "directory for the certificates, keys and tokens (default: a temporary one, removed at exit)")
	flag.Parse()
	if err := run(context.Background(), os.Stdout, *serve, *addr, *dir); err != nil {
		log.Fatal(err)
	}
}

// files are what run makes at start.
type files struct {
	dir, caFile, tokensFile  string
	serverCert, serverKey    string
	aliceCert, aliceKey      string
	bobCert, bobKey          string
	malloryCert, malloryKey  string // signed by a CA the server does not trust
	aliceToken, bobToken     string
	aliceTokenFile           string
	handlerRuns, adminResets atomic.Int64
}

func run(ctx context.Context, out io.Writer, serve bool, addr, dir string) error {
	if dir == "" {
		tmp, err := os.MkdirTemp("", "ferry-secure-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := makeFiles(dir)
	if err != nil {
		return err
	}
	s, stats, err := newServer(f)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr = l.Addr().String()
	fmt.Fprintf(out, "server: listening on %s (mutual TLS, tokens, policy)\n", addr)
	if serve {
		fmt.Fprintf(out, "server: files in %s; try:\n  go run ./cmd/ferry call -cacert %s -servername 127.0.0.1 -cert %s -key %s -token-file %s %s Greeter.Hello '[\"you\"]'\n",
			dir, f.caFile, f.aliceCert, f.aliceKey, f.aliceTokenFile, addr)
		sig, stop := signal.NotifyContext(ctx, os.Interrupt)
		defer stop()
		<-sig.Done()
	} else {
		err = runClients(ctx, out, f, addr, stats, s)
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if serr := s.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	if serr := <-served; !errors.Is(serr, server.ErrServerClosed) && err == nil {
		err = serr
	}
	return err
}

// makeFiles makes two CAs, the server's and the clients' certificates,
// and a token for alice and bob, all in dir.
func makeFiles(dir string) (*files, error) {
	f := &files{dir: dir}
	good, err := newCA("ferry secure example CA")
	if err != nil {
		return nil, err
	}
	rogue, err := newCA("a CA the server does not trust")
	if err != nil {
		return nil, err
	}
	if f.caFile, err = good.writePEM(dir, "ca.crt"); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		ca                *ca
		name, uri         string
		server            bool
		certFile, keyFile *string
	}{
		{good, "server", "", true, &f.serverCert, &f.serverKey},
		{good, "alice", aliceID, false, &f.aliceCert, &f.aliceKey},
		{good, "bob", bobID, false, &f.bobCert, &f.bobKey},
		{rogue, "mallory", aliceID, false, &f.malloryCert, &f.malloryKey},
	} {
		if *c.certFile, *c.keyFile, err = c.ca.issue(dir, c.name, c.server, c.uri); err != nil {
			return nil, err
		}
	}
	f.aliceToken, f.bobToken = newToken(), newToken()
	f.tokensFile = filepath.Join(dir, "tokens")
	if err := writeTokens(f.tokensFile, map[string]string{aliceID: f.aliceToken, bobID: f.bobToken}); err != nil {
		return nil, err
	}
	f.aliceTokenFile = filepath.Join(dir, "alice.token")
	return f, os.WriteFile(f.aliceTokenFile, []byte(f.aliceToken+"\n"), 0o600)
}

func newToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// writeTokens replaces the token file atomically: a temporary file renamed
// over the old one.
func writeTokens(path string, tokens map[string]string) error {
	var b []byte
	b = append(b, "# identity token\n"...)
	for name, tok := range tokens {
		b = append(b, name+" "+tok+"\n"...)
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// newServer builds the server: TLS from PEM files (client certificates
// required and verified), a connection accepted only with a certificate
// naming a spiffe://example.org/ identity and a valid token of that same
// identity, and the policy on every call.
func newServer(f *files) (*server.Server, *debug.Stats, error) {
	pf, err := pemfile.Load(pemfile.Options{CertFile: f.serverCert, KeyFile: f.serverKey, CAFile: f.caFile})
	if err != nil {
		return nil, nil, err
	}
	tlsConfig, err := pf.ServerConfig()
	if err != nil {
		return nil, nil, err
	}
	tokens, err := auth.LoadTokens(f.tokensFile, nil)
	if err != nil {
		return nil, nil, err
	}
	var rules []auth.Rule
	if err := json.Unmarshal([]byte(policyJSON), &rules); err != nil {
		return nil, nil, err
	}
	policy, err := auth.NewPolicy(rules...)
	if err != nil {
		return nil, nil, err
	}
	stats := debug.New()
	s := server.New(
		server.WithTLS(tlsConfig),
		server.WithAuth(auth.Matching(auth.Certificates("spiffe://example.org/*"), tokens.Authenticate)),
		// Stats first, so that /debug/ferry counts the policy's denials;
		// the policy covers unary and streaming calls alike.
		stats.Option(),
		policy.Option(),
	)
	if err := server.Handle(s, "Greeter.Hello", func(ctx context.Context, name *string) (*string, error) {
		f.handlerRuns.Add(1)
		reply := fmt.Sprintf("hello %s, from %s", *name, ferry.IdentityFromContext(ctx))
		return &reply, nil
	}); err != nil {
		return nil, nil, err
	}
	if err := server.Handle(s, "Admin.Reset", func(ctx context.Context, _ *struct{}) (*string, error) {
		f.handlerRuns.Add(1)
		f.adminResets.Add(1)
		done := "reset"
		return &done, nil
	}); err != nil {
		return nil, nil, err
	}
	return s, stats, nil
}
