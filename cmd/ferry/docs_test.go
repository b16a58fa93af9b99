package main

// Tests of what doc.go and the -h texts promise that the other tests do
// not cover: flag defaults, the exit status of every error code, and which
// flags imply -tls.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsFlagDefaults checks the defaults doc.go states: -timeout 10 s,
// bench -c 16 workers over -conns 1 connection for -n 1000 calls, text
// output; and that -h lists them.
func TestDocsFlagDefaults(t *testing.T) {
	r := ferryCmd(t, "bench", "-h")
	assert.Equal(t, exitOK, r.code)
	for _, want := range []string{"-c int\n", "(default 16)", "-conns int\n", "(default 1)", "default 1000 unless -d is set",
		"-timeout duration\n", "(default 10s)", `-o string`, `(default "text")`} {
		assert.Contains(t, r.stderr, want)
	}
	r = ferryCmd(t, "call", "-h")
	assert.Equal(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "(default 10s)")
	assert.Contains(t, r.stderr, `-bin string`)
	assert.Contains(t, r.stderr, `(default "base64")`)

	addr := serve(t, newTestServer(t))
	r = ferryCmd(t, "bench", addr, "Arith.Add", "[1,2]", "-o", "json")
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.Equal(t, uint64(1000), rep.Count, "-n defaults to 1000")
	assert.Equal(t, 16, rep.Concurrency, "-c defaults to 16")
	assert.Equal(t, 1, rep.Connections, "-conns defaults to 1")
	assert.Len(t, rep.Percentiles, 8, "percentiles 10 to 99.9")
	assert.Contains(t, rep.Percentiles, "p10")
	assert.Contains(t, rep.Percentiles, "p99.9")
	assert.LessOrEqual(t, len(rep.Histogram), 10, "ten buckets at most")
}

// codeServer serves Code.Fail, which fails with the code it is given.
func codeServer(t *testing.T) string {
	t.Helper()
	s := server.New()
	require.NoError(t, server.Handle(s, "Code.Fail", func(_ context.Context, c *int) (*int, error) {
		return nil, ferry.NewError(ferry.Code(*c), "asked to fail")
	}))
	return serve(t, s)
}

// TestDocsExitStatusPerCode checks doc.go's exit status table: a call that
// fails with a Ferry error code exits with 10 + the code, for every code,
// named as the table names them.
func TestDocsExitStatusPerCode(t *testing.T) {
	addr := codeServer(t)
	named := map[int]string{11: "canceled", 12: "unknown", 13: "invalid_argument", 14: "deadline_exceeded",
		15: "not_found", 17: "permission_denied", 22: "unimplemented", 23: "internal", 24: "unavailable", 26: "unauthenticated"}
	for c := ferry.Code(1); c.Valid(); c++ {
		r := ferryCmd(t, "call", addr, "Code.Fail", fmt.Sprint(int(c)))
		assert.Equal(t, 10+int(c), r.code, "%v: %s", c, r.stderr)
		assert.Contains(t, r.stderr, c.String()+": asked to fail")
		if name, ok := named[10+int(c)]; ok {
			assert.Equal(t, name, c.String(), "exit status %d", 10+int(c))
		}
	}
	assert.Len(t, named, 10, "every code the table names was checked")
}

// TestDocsAnyTLSFlagImpliesTLS checks "-tls connects with TLS ...; -cacert,
// -servername, -cert and -key ...; -insecure ... Any of these flags
// implies -tls": each alone makes a TLS config or, when it cannot stand
// alone, an error; none is silently ignored.
func TestDocsAnyTLSFlagImpliesTLS(t *testing.T) {
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "x.pem")
	require.NoError(t, os.WriteFile(pemFile, []byte("not a certificate"), 0o600))
	for _, tc := range []struct {
		name string
		cf   connFlags
		err  string // "" when a config is expected
	}{
		{"-tls", connFlags{useTLS: true}, ""},
		{"-servername", connFlags{serverName: "x"}, ""},
		{"-insecure", connFlags{insecure: true}, ""},
		{"-cacert", connFlags{caCert: pemFile}, "no PEM certificate"},
		{"-cert", connFlags{cert: pemFile}, "-cert and -key go together"},
		{"-key", connFlags{key: pemFile}, "-cert and -key go together"},
	} {
		cfg, err := tc.cf.tlsConfig("127.0.0.1:7000")
		if tc.err == "" {
			require.NoError(t, err, tc.name)
			assert.NotNil(t, cfg, "%s alone means TLS", tc.name)
			continue
		}
		require.Error(t, err, "%s alone is not ignored", tc.name)
		assert.Contains(t, err.Error(), tc.err, tc.name)
	}
	cfg, err := (&connFlags{}).tlsConfig("127.0.0.1:7000")
	require.NoError(t, err)
	assert.Nil(t, cfg, "no TLS flag: plain TCP")

	r := ferryCmd(t, "call", "-h")
	_, help, ok := strings.Cut(r.stderr, "\n  -tls\n")
	require.True(t, ok, r.stderr)
	help, _, _ = strings.Cut(help, "\n")
	for _, f := range []string{"-cacert", "-cert", "-key", "-servername", "-insecure"} {
		assert.Contains(t, help, f, "the -tls help names %s", f)
	}
}

// TestDocsUnixSocket checks "ADDR is host:port (TCP), or unix:PATH or an
// absolute PATH (a unix socket ...)" against a Ferry server, which speaks
// the session protocol there too.
func TestDocsUnixSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ferry.sock")
	l, err := net.Listen("unix", path)
	require.NoError(t, err)
	s := newTestServer(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	defer func() { s.Close(); <-served }()
	for _, addr := range []string{"unix:" + path, path} {
		r := ferryCmd(t, "call", addr, "Arith.Add", "[3,4]")
		require.Equal(t, exitOK, r.code, "%s: %s", addr, r.stderr)
		assert.Equal(t, "7\n", r.stdout, addr)
		r = ferryCmd(t, "call", "-timeout", "500ms", addr, "Echo.Wait", "{}")
		assert.Equal(t, 14, r.code, "%s: the deadline travels, as over a session: %s", addr, r.stderr)
	}
}
