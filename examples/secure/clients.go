package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/server"
)

// clientTLS is a client's TLS config: its certificate, and the CA that
// verifies the server.
func clientTLS(f *files, certFile, keyFile string) (*tls.Config, error) {
	pf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: f.caFile, ServerName: "127.0.0.1"})
	if err != nil {
		return nil, err
	}
	return pf.ClientConfig()
}

// outcome describes a call's or a dial's error the way the example prints
// it.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	ne := ""
	if ferry.NotExecuted(err) {
		ne = ", not executed"
	}
	return fmt.Sprintf("refused: %s%s (%v)", ferry.CodeOf(err), ne, err)
}

// hello dials addr with tlsCfg and token and calls Greeter.Hello, or
// method when not empty; it returns what happened.
func hello(ctx context.Context, addr string, tlsCfg *tls.Config, token, method string) (string, error) {
	c, err := client.Dial(ctx, addr, client.WithTLS(tlsCfg), client.WithToken(token))
	if err != nil {
		return "", fmt.Errorf("at dial: %w", err)
	}
	defer c.Close()
	var reply string
	if method == "" {
		err = c.Call(ctx, "Greeter.Hello", "world", &reply)
	} else {
		err = c.Call(ctx, method, struct{}{}, &reply)
	}
	return reply, err
}

// runClients runs the clients and prints what each got. It returns
// an error if any got something else than the example expects.
func runClients(ctx context.Context, out io.Writer, f *files, addr string, stats *debug.Stats, s *server.Server) error {
	aliceTLS, err := clientTLS(f, f.aliceCert, f.aliceKey)
	if err != nil {
		return err
	}
	bobTLS, err := clientTLS(f, f.bobCert, f.bobKey)
	if err != nil {
		return err
	}
	malloryTLS, err := clientTLS(f, f.malloryCert, f.malloryKey)
	if err != nil {
		return err
	}
	var failures []string
	expect := func(label string, err error, want ferry.Code) {
		got := ferry.Code(0)
		if err != nil {
			got = ferry.CodeOf(err)
		}
		if got != want || (err != nil && !ferry.NotExecuted(err)) {
			failures = append(failures, label)
		}
	}

	reply, err := hello(ctx, addr, aliceTLS, f.aliceToken, "")
	fmt.Fprintf(out, "alice (right certificate, valid token) calls Greeter.Hello: %s %q\n", outcome(err), reply)
	expect("alice", err, 0)

	_, err = hello(ctx, addr, malloryTLS, f.aliceToken, "")
	fmt.Fprintf(out, "mallory (certificate from another CA, alice's stolen token) calls Greeter.Hello: %s\n", outcome(err))
	expect("mallory", err, ferry.CodeUnauthenticated)

	reply, err = hello(ctx, addr, bobTLS, f.bobToken, "")
	fmt.Fprintf(out, "bob (valid token) calls Greeter.Hello: %s %q\n", outcome(err), reply)
	expect("bob before revocation", err, 0)
	if err := writeTokens(f.tokensFile, map[string]string{aliceID: f.aliceToken}); err != nil {
		return err
	}
	fmt.Fprintln(out, "server: bob's token removed from the token file (no restart)")
	_, err = hello(ctx, addr, bobTLS, f.bobToken, "")
	fmt.Fprintf(out, "bob (revoked token) calls Greeter.Hello: %s\n", outcome(err))
	expect("bob after revocation", err, ferry.CodeUnauthenticated)

	_, err = hello(ctx, addr, aliceTLS, f.aliceToken, "Admin.Reset")
	fmt.Fprintf(out, "alice calls Admin.Reset (her policy does not allow it): %s\n", outcome(err))
	expect("alice Admin.Reset", err, ferry.CodePermissionDenied)

	_, err = hello(ctx, addr, bobTLS, f.aliceToken, "")
	fmt.Fprintf(out, "bob (his own certificate, alice's stolen token) calls Greeter.Hello: %s\n", outcome(err))
	expect("bob with alice's token", err, ferry.CodeUnauthenticated)

	snap := stats.Snapshot(s)
	fmt.Fprintf(out, "server: handlers run: %d (Admin.Reset: %d); calls denied on /debug/ferry: %d\n", f.handlerRuns.Load(), f.adminResets.Load(), snap.Denied)
	if f.handlerRuns.Load() != 2 || f.adminResets.Load() != 0 || snap.Denied != 1 {
		failures = append(failures, "server counts")
	}
	if len(failures) > 0 {
		return fmt.Errorf("ferry: secure example: unexpected outcome for %v", failures)
	}
	return nil
}
