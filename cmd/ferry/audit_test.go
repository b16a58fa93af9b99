package main

// Audit of doc.go and the -h texts, run against the built binary the way
// a user runs it: what the other tests of this package do not check.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runBinary runs the built ferry binary with stdin and returns its exit
// status and output.
func runBinary(t *testing.T, bin, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// TestAuditCLIBinary checks, on the built binary: "--" ends the flags and
// a negative number is an argument; -timeout 0 means no deadline; -bin
// string and hex; an integer beyond 64 bits and bad JSON exit 1; bench
// reads @FILE and @-; -n with -d stops at whichever ends first; the
// report's histogram runs from the fastest call to the slowest, its
// bounds growing by one factor; "ferry COMMAND -h" exits 0 and lists the
// flags on every command.
func TestAuditCLIBinary(t *testing.T) {
	bin := ferryBinary(t)
	s := newTestServer(t)
	require.NoError(t, server.Handle(s, "Bin.Get", func(context.Context, *struct{}) (*[]byte, error) {
		b := []byte("hi\x00")
		return &b, nil
	}))
	addr := serve(t, s)

	t.Run("negative number and --", func(t *testing.T) {
		r := runBinary(t, bin, "", "call", addr, "Arith.Add", "-5", "-compact")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "-5\n", r.stdout, "-5 is the single param: A=-5")
		r = runBinary(t, bin, "", "call", "-compact", addr, "Arith.Add", "--", "[-3,-4]")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "-7\n", r.stdout)
	})
	t.Run("timeout 0 is none", func(t *testing.T) {
		r := runBinary(t, bin, "", "call", "-timeout", "0", addr, "Arith.Add", "[1,2]")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "3\n", r.stdout)
	})
	t.Run("bin", func(t *testing.T) {
		for mode, want := range map[string]string{"": `"aGkA"`, "base64": `"aGkA"`, "hex": `"686900"`, "string": `"hi\u0000"`} {
			args := []string{"call", addr, "Bin.Get"}
			if mode != "" {
				args = append(args, "-bin", mode)
			}
			r := runBinary(t, bin, "", args...)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Equal(t, want+"\n", r.stdout, mode)
		}
	})
	t.Run("bad input exits 1", func(t *testing.T) {
		for _, p := range []string{"[1, 18446744073709551616]", "[-9223372036854775809]", "[1,", "{\"A\":}", "@" + filepath.Join(t.TempDir(), "none")} {
			r := runBinary(t, bin, "", "call", addr, "Arith.Add", p)
			assert.Equal(t, exitFail, r.code, "%s: %s", p, r.stderr)
			assert.Empty(t, r.stdout, p)
		}
	})
	t.Run("bench params from a file and stdin", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "p.json")
		require.NoError(t, os.WriteFile(file, []byte("[1,0]\n"), 0o600))
		for _, tc := range []struct{ stdin, param string }{{"", "@" + file}, {"[1,0]", "@-"}} {
			r := runBinary(t, bin, tc.stdin, "bench", addr, "Arith.Div", tc.param, "-n", "7", "-c", "2", "-o", "json")
			assert.Equal(t, 13, r.code, "the params reached the server: every call divides by zero (%s)", r.stderr)
			var rep jsonReport
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
			assert.Equal(t, uint64(7), rep.Count)
			assert.Equal(t, map[string]uint64{"invalid_argument": 7}, rep.Status)
		}
	})
	t.Run("bench -n with -d: whichever ends first", func(t *testing.T) {
		start := time.Now()
		r := runBinary(t, bin, "", "bench", addr, "Arith.Add", "[1,2]", "-n", "5", "-d", "20s", "-c", "1", "-o", "json")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Less(t, time.Since(start), 10*time.Second, "-n ended it, not -d")
		var rep jsonReport
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
		assert.Equal(t, uint64(5), rep.Count)
		assert.Equal(t, map[string]uint64{"OK": 5}, rep.Status)
	})
	t.Run("bench histogram", func(t *testing.T) {
		r := runBinary(t, bin, "", "bench", addr, "Arith.Add", "[1,2]", "-n", "300", "-c", "4", "-o", "json")
		require.Equal(t, exitOK, r.code, r.stderr)
		var rep jsonReport
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
		h := rep.Histogram
		require.NotEmpty(t, h)
		require.LessOrEqual(t, len(h), 10)
		assert.LessOrEqual(t, h[0].LoNS, rep.MinNS, "from the fastest call")
		assert.GreaterOrEqual(t, h[len(h)-1].HiNS, rep.MaxNS, "to the slowest")
		var n uint64
		for i, b := range h {
			n += b.Count
			if i > 0 {
				assert.Equal(t, h[i-1].HiNS, b.LoNS, "contiguous buckets")
			}
		}
		assert.Equal(t, rep.Count, n)
		if len(h) >= 3 && h[0].LoNS > 0 {
			f0 := float64(h[0].HiNS) / float64(h[0].LoNS)
			f1 := float64(h[len(h)-2].HiNS) / float64(h[len(h)-2].LoNS)
			assert.InEpsilon(t, f0, f1, 0.05, "bounds grow by one factor: %+v", h)
		}
	})
	t.Run("every command's -h", func(t *testing.T) {
		common := []string{"-H key=value", "-cacert file", "-cert file", "-key file", "-insecure", "-plain", "-servername string",
			"-timeout duration", "-tls", "-token-file file", "-yes-really"}
		for cmd, own := range map[string][]string{
			"call":     {"-bin string", "-compact", "-nocheck"},
			"list":     {"-json"},
			"describe": {"-json"},
			"bench":    {"-c int", "-conns int", "-d duration", "-n uint", "-o string", "-progress"},
			"health":   nil,
		} {
			r := runBinary(t, bin, "", cmd, "-h")
			assert.Equal(t, exitOK, r.code, cmd)
			assert.Contains(t, r.stderr, "Usage: ferry "+cmd+" [flags] ADDR", cmd)
			for _, f := range append(append([]string(nil), common...), own...) {
				assert.Contains(t, r.stderr, "  "+f+"\n", "%s -h lists %s", cmd, f)
			}
		}
		r := runBinary(t, bin, "")
		assert.Equal(t, exitFail, r.code, "no command is a usage error")
		r = runBinary(t, bin, "", "-h")
		assert.Equal(t, exitOK, r.code)
		assert.Contains(t, r.stderr+r.stdout, "Usage: ferry COMMAND")
	})
}

// streamServer serves Sum.Add, a client-streaming method that returns
// the sum of the numbers it receives, and Wait.Chat, a bidi method that
// waits for its caller or its deadline.
func streamServer(t *testing.T, withIntrospection bool) string {
	t.Helper()
	s := server.New()
	require.NoError(t, server.HandleClientStream(s, "Sum.Add", func(ctx context.Context, recv func() (*int64, error)) (*int64, error) {
		var sum int64
		for {
			n, err := recv()
			if errors.Is(err, io.EOF) {
				return &sum, nil
			}
			if err != nil {
				return nil, err
			}
			sum += *n
		}
	}))
	require.NoError(t, server.HandleBidi(s, "Wait.Chat", func(ctx context.Context, bs *server.BidiStream[int64, int64]) error {
		for {
			n, err := bs.Recv()
			if err != nil {
				return err
			}
			if err := bs.Send(n); err != nil {
				return err
			}
		}
	}))
	if withIntrospection {
		require.NoError(t, introspect.Register(s))
	}
	return serve(t, s)
}

// TestAuditCLIStreams checks, on the built binary: a client-streaming
// method reads one JSON value per line from standard input and prints
// the handler's result, with or without introspection; params given on
// the command line are its messages, each checked against the message
// schema (exit 13 for one that does not fit); describe names
// its kind; the -timeout deadline bounds the whole stream (a bidi call
// whose input never ends fails with deadline_exceeded, exit 14, soon
// after it).
func TestAuditCLIStreams(t *testing.T) {
	bin := ferryBinary(t)
	for _, introspection := range []bool{true, false} {
		addr := streamServer(t, introspection)
		r := runBinary(t, bin, "1\n2\n\n3\n", "call", addr, "Sum.Add")
		require.Equal(t, exitOK, r.code, "introspection %v: %s", introspection, r.stderr)
		assert.Equal(t, "6\n", r.stdout, "the handler's result")
		r = runBinary(t, bin, "", "call", addr, "Sum.Add", "[4,5]")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "9\n", r.stdout, "each element of the params array is one message")
	}
	addr := streamServer(t, true)
	r := runBinary(t, bin, "", "call", addr, "Sum.Add", `[1, "x"]`)
	assert.Equal(t, exitCodeBase+int(ferry.CodeInvalidArgument), r.code, "each message is checked: %s", r.stderr)
	assert.Contains(t, r.stderr, "ferry: Sum.Add: message 2: want an integer")
	r = runBinary(t, bin, "", "describe", addr, "Sum.Add")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Sum.Add (client streaming: many requests, one response)")

	cmd := exec.CommandContext(t.Context(), bin, "call", "-timeout", "400ms", addr, "Wait.Chat")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	defer stdin.Close()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	require.NoError(t, cmd.Start())
	_, err = stdin.Write([]byte("1\n"))
	require.NoError(t, err)
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "stdout %q stderr %q", out.String(), errb.String())
	assert.Equal(t, exitCodeBase+int(ferry.CodeDeadlineExceeded), ee.ExitCode(), errb.String())
	assert.Less(t, time.Since(start), 8*time.Second, "the deadline ends the stream, not the end of input")
	assert.Equal(t, "1\n", out.String(), "the message sent before the deadline came back")
}

// TestAuditCLIPlainAgainstFerry: -plain works with Ferry servers too, but
// every error has code unknown (exit 12), and -timeout only bounds the
// local wait (exit 14 when it passes, though the handler got no deadline).
func TestAuditCLIPlainAgainstFerry(t *testing.T) {
	bin := ferryBinary(t)
	addr := serve(t, newTestServer(t))
	r := runBinary(t, bin, "", "call", "-plain", addr, "Arith.Add", "[3,4]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "7\n", r.stdout)
	r = runBinary(t, bin, "", "call", "-plain", addr, "Arith.Div", "[1,0]")
	assert.Equal(t, exitCodeBase+int(ferry.CodeUnknown), r.code, r.stderr)
	assert.Contains(t, r.stderr, "division by zero")
	r = runBinary(t, bin, "", "call", addr, "Arith.Div", "[1,0]")
	assert.Equal(t, exitCodeBase+int(ferry.CodeInvalidArgument), r.code, "over a session the code arrives: %s", r.stderr)

	start := time.Now()
	r = runBinary(t, bin, "", "call", "-plain", "-timeout", "300ms", addr, "Echo.Wait", "{}")
	assert.Equal(t, exitCodeBase+int(ferry.CodeDeadlineExceeded), r.code, r.stderr)
	assert.Less(t, time.Since(start), 8*time.Second)
}

// cutProxy forwards one connection to addr and cuts both sides when cut
// is closed.
func cutProxy(t *testing.T, addr string, cut <-chan struct{}) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		in, err := l.Accept()
		if err != nil {
			return
		}
		defer in.Close()
		out, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer out.Close()
		go func() { _, _ = io.Copy(out, in) }()
		go func() { _, _ = io.Copy(in, out) }()
		select {
		case <-cut:
		case <-t.Context().Done():
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

// TestAuditCLIExitStatus checks, on the built binary: a connection lost
// during a call exits 24 (unavailable); a token file's surrounding white
// space is dropped; a connection the server's authentication refuses
// is "no connection" (exit 1) and says unauthenticated, while a handler's
// own unauthenticated error exits 26.
func TestAuditCLIExitStatus(t *testing.T) {
	bin := ferryBinary(t)

	entered := make(chan struct{})
	s := server.New()
	require.NoError(t, server.Handle(s, "Slow.Call", func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	addr := cutProxy(t, serve(t, s), entered)
	r := runBinary(t, bin, "", "call", "-nocheck", addr, "Slow.Call")
	assert.Equal(t, exitCodeBase+int(ferry.CodeUnavailable), r.code, "connection lost: %s", r.stderr)

	const token = "audit-token-0123456789abcdef"
	tokens, err := auth.NewTokens(map[string]string{token: "cli"})
	require.NoError(t, err)
	ts := server.New(server.WithAuth(tokens.Authenticate))
	require.NoError(t, server.Handle(ts, "Who.Not", func(context.Context, *struct{}) (*struct{}, error) {
		return nil, ferry.NewError(ferry.CodeUnauthenticated, "session expired")
	}))
	taddr := serve(t, ts)
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("  \t"+token+" \r\n\n"), 0o600))
	r = runBinary(t, bin, "", "call", "-token-file", path, taddr, "Who.Not")
	assert.Equal(t, exitCodeBase+int(ferry.CodeUnauthenticated), r.code, "the handler's code: %s", r.stderr)
	r = runBinary(t, bin, "", "call", taddr, "Who.Not")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "unauthenticated")
}

// TestAuditBenchUnits: -o json gives durations in nanoseconds and -o csv
// in milliseconds; the text report lists the status codes and error
// messages. The handler works for 20 ms, so the units tell apart.
func TestAuditBenchUnits(t *testing.T) {
	bin := ferryBinary(t)
	s := server.New()
	require.NoError(t, server.Handle(s, "Work.Do", func(_ context.Context, fail *bool) (*bool, error) {
		time.Sleep(20 * time.Millisecond) // the work being measured
		if *fail {
			return nil, ferry.NewError(ferry.CodeAborted, "asked to fail")
		}
		return fail, nil
	}))
	addr := serve(t, s)

	r := runBinary(t, bin, "", "bench", "-n", "4", "-c", "2", "-o", "json", addr, "Work.Do", "false")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.GreaterOrEqual(t, rep.MinNS, int64(20*time.Millisecond))
	assert.Less(t, rep.MaxNS, int64(time.Minute))
	assert.GreaterOrEqual(t, rep.Percentiles["p50"], int64(19*time.Millisecond), "within 6.25 %")

	r = runBinary(t, bin, "", "bench", "-n", "4", "-c", "2", "-o", "csv", addr, "Work.Do", "false")
	require.Equal(t, exitOK, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2)
	head, row := strings.Split(lines[0], ","), strings.Split(lines[1], ",")
	require.Equal(t, len(head), len(row))
	col := map[string]string{}
	for i, h := range head {
		col[h] = row[i]
	}
	var minMS, meanMS float64
	require.NoError(t, json.Unmarshal([]byte(col["min_ms"]), &minMS))
	require.NoError(t, json.Unmarshal([]byte(col["mean_ms"]), &meanMS))
	assert.GreaterOrEqual(t, minMS, 20.0, "milliseconds")
	assert.Less(t, meanMS, 60000.0)
	assert.Equal(t, "4", col["count"])

	r = runBinary(t, bin, "", "bench", "-n", "4", "-c", "2", addr, "Work.Do", "true")
	assert.Equal(t, exitCodeBase+int(ferry.CodeAborted), r.code, r.stderr)
	assert.Contains(t, r.stdout, "[aborted]")
	assert.Contains(t, r.stdout, "asked to fail")
}

// greetingServer accepts connections, writes greeting on each, and then
// stays silent until the test ends.
func greetingServer(t *testing.T, greeting string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 8 {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
			_, _ = nc.Write([]byte(greeting))
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, nc := range conns {
			nc.Close()
		}
	})
	return l.Addr().String()
}

// TestAuditCLIWhatItFound: a server that is not Ferry's fails the call
// within -timeout (exit 1) and the error says what was found: a TLS
// port (one that closes without a word, or one that answers with a TLS
// alert record), or the first bytes it sent.
func TestAuditCLIWhatItFound(t *testing.T) {
	bin := ferryBinary(t)
	cfg, _ := selfSigned(t)
	tl, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	hs := server.New()
	served := make(chan struct{})
	go func() { defer close(served); _ = hs.Serve(tl) }()
	t.Cleanup(func() { hs.Close(); <-served })

	start := time.Now()
	r := runBinary(t, bin, "", "call", "-timeout", "3s", tl.Addr().String(), "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "TLS", "Go's TLS server closes without a word: the error names TLS among the causes")
	assert.Less(t, time.Since(start), 10*time.Second)

	// A TLS server that answers with an alert record, as OpenSSL's do.
	r = runBinary(t, bin, "", "call", "-timeout", "2s", greetingServer(t, "\x15\x03\x03\x00\x02\x02\x0a"), "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "a TLS port (try -tls)")

	start = time.Now()
	r = runBinary(t, bin, "", "call", "-timeout", "1s", greetingServer(t, "SSH-2.0-OpenSSH_9.6\r\n"), "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "SSH-2.0-OpenSSH_")
	assert.Less(t, time.Since(start), 10*time.Second, "within -timeout")
}

// TestAuditCLIMutualTLS: -cert and -key present a client certificate
// that a server requiring one (and auth.Certificates) accepts, with
// -cacert verifying the server for the name in ADDR; without -cert the
// server refuses the connection (exit 1); without -cacert the system's
// CAs do not know the test CA (exit 1).
func TestAuditCLIMutualTLS(t *testing.T) {
	bin := ferryBinary(t)
	ca := testcerts.NewCA("audit CA")
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, ca.PEM(), 0o600))
	certPEM, keyPEM := testcerts.PEM(ca.Issue(testcerts.Options{CommonName: "alice", Client: true}))
	certFile, keyFile := filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	require.NoError(t, os.WriteFile(certFile, certPEM, 0o600))
	require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))

	s := server.New(
		server.WithTLS(&tls.Config{
			Certificates: []tls.Certificate{ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})},
			ClientAuth:   tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool, MinVersion: tls.VersionTLS12,
		}),
		server.WithAuth(auth.Certificates()),
	)
	require.NoError(t, server.Handle(s, "Who.Am", func(ctx context.Context, _ *struct{}) (*string, error) {
		n := ferry.IdentityFromContext(ctx).(auth.Identity).Name
		return &n, nil
	}))
	addr := serve(t, s)

	r := runBinary(t, bin, "", "call", "-cacert", caFile, "-cert", certFile, "-key", keyFile, addr, "Who.Am")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"alice\"\n", r.stdout)

	r = runBinary(t, bin, "", "call", "-cacert", caFile, addr, "Who.Am")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Empty(t, r.stdout)

	r = runBinary(t, bin, "", "call", "-cert", certFile, "-key", keyFile, addr, "Who.Am")
	assert.Equal(t, exitFail, r.code, r.stderr)
	assert.Contains(t, r.stderr, "certificate")
}
