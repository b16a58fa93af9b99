package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestList(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "list", addr)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `Arith
  Arith.Add            unary
  Arith.Div            unary
Echo
  Echo.Echo            unary
  Echo.Header          unary
  Echo.Wait            unary
Health
  Health.Check         unary
Introspect
  Introspect.Describe  unary
  Introspect.List      unary
`, r.stdout)

	r = ferryCmd(t, "list", "-json", addr)
	require.Equal(t, exitOK, r.code, r.stderr)
	var lr introspect.ListReply
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &lr))
	assert.Len(t, lr.Services, 4)

	r = ferryCmd(t, "list", "-plain", addr)
	assert.Equal(t, exitOK, r.code, "introspection works over plain MessagePack-RPC too: %s", r.stderr)
}

func TestListWithoutIntrospection(t *testing.T) {
	s := server.New()
	require.NoError(t, s.Register(Arith{}))
	r := ferryCmd(t, "list", serve(t, s))
	assert.Equal(t, 22, r.code)
	assert.Contains(t, r.stderr, "introspect.Register")
}

func TestDescribe(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "describe", addr, "Arith.Add")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `Arith.Add (unary)
  args:  {A: int64, B: int64}
         positional params: [A, B]
  reply: int64
`, r.stdout)

	r = ferryCmd(t, "describe", addr, "Introspect.Describe")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "args:  {method: string}")
	assert.Contains(t, r.stdout, "reply: {name: string, kind: string, args?: *Schema, reply?: *Schema, $defs?: map[string]*Schema}")
	assert.Contains(t, r.stdout, "where Schema = {type?: string,")

	r = ferryCmd(t, "describe", addr, "Echo")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, 3, strings.Count(r.stdout, "(unary)"))
	assert.Contains(t, r.stdout, "Echo.Echo (unary)\n  args:  any\n  reply: any\n")

	r = ferryCmd(t, "describe", "-json", addr, "Health.Check")
	require.Equal(t, exitOK, r.code, r.stderr)
	var d introspect.Description
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &d))
	assert.Equal(t, []string{"service"}, d.Args.Required)

	r = ferryCmd(t, "describe", addr, "No.Such")
	assert.Equal(t, 15, r.code)
	r = ferryCmd(t, "describe", addr, "Nothing")
	assert.Equal(t, 15, r.code)
}

func TestHealth(t *testing.T) {
	addr := serve(t, newTestServer(t))
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{addr}, exitOK, "SERVING\n"},
		{[]string{addr, "db"}, exitOK, "SERVING\n"},
		{[]string{"-plain", addr, "db"}, exitOK, "SERVING\n"},
		{[]string{addr, "cache"}, exitNotServing, "NOT_SERVING\n"},
		{[]string{addr, "nope"}, 15, ""},
	} {
		r := ferryCmd(t, append([]string{"health"}, tc.args...)...)
		assert.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		assert.Equal(t, tc.out, r.stdout, "%v", tc.args)
	}

	s := server.New()
	require.NoError(t, s.Register(Arith{}))
	assert.Equal(t, 22, ferryCmd(t, "health", serve(t, s)).code, "no health service")
	assert.Equal(t, exitFail, ferryCmd(t, "health", closedAddr(t)).code)
}

func TestBenchText(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "bench", addr, "Arith.Add", "[3,4]", "-c", "4", "-n", "200", "-progress")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, want := range []string{"Summary:", "Count:        200", "Requests/sec:", "Response time histogram (ms, log scale):",
		"Latency distribution:", "99.9 % in", "[OK]", "200 responses"} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Contains(t, r.stderr, "100%  200/200", "the progress bar ends full")
}

func TestBenchJSONAndErrors(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "bench", "-o", "json", "-c", "3", "-n", "50", "-conns", "2", addr, "Arith.Div", "[1,0]")
	assert.Equal(t, 13, r.code, "exit 10 + the most frequent error code")
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep), r.stdout)
	assert.Equal(t, uint64(50), rep.Count)
	assert.Equal(t, uint64(50), rep.Errors)
	assert.Equal(t, map[string]uint64{"invalid_argument": 50}, rep.Status)
	assert.Equal(t, map[string]uint64{"ferry: invalid_argument: division by zero": 50}, rep.Messages)
	assert.Equal(t, 2, rep.Connections)
	assert.LessOrEqual(t, rep.MinNS, rep.Percentiles["p50"])
	assert.LessOrEqual(t, rep.Percentiles["p50"], rep.Percentiles["p99.9"])
	assert.LessOrEqual(t, rep.Percentiles["p99.9"], rep.MaxNS)
	var n uint64
	for _, b := range rep.Histogram {
		n += b.Count
	}
	assert.Equal(t, uint64(50), n)
}

func TestBenchCSVAndDuration(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "bench", addr, "Arith.Add", "[1,1]", "-d", "100ms", "-c", "2", "-o", "csv", "-plain")
	require.Equal(t, exitOK, r.code, r.stderr)
	rows, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, []string{"addr", "method", "concurrency", "connections", "count", "errors", "total_ms", "rps", "min_ms", "mean_ms",
		"p10_ms", "p25_ms", "p50_ms", "p75_ms", "p90_ms", "p95_ms", "p99_ms", "p99.9_ms", "max_ms"}, rows[0])
	assert.Equal(t, "Arith.Add", rows[1][1])
	assert.NotEqual(t, "0", rows[1][4], "some calls ran")
	assert.Empty(t, r.stderr, "no progress bar when stderr is not a terminal")

	assert.Equal(t, exitFail, ferryCmd(t, "bench", addr, "Arith.Add", "-o", "xml").code)
	assert.Equal(t, exitFail, ferryCmd(t, "bench", addr, "Arith.Add", "-c", "0").code)
	assert.Equal(t, exitFail, ferryCmd(t, "bench", closedAddr(t), "Arith.Add").code)
}

func TestBenchStopsWhenCanceled(t *testing.T) {
	first := make(chan struct{})
	var once sync.Once
	s := server.New(server.WithInterceptors(func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		once.Do(func() { close(first) })
		return next(ctx, args)
	}))
	require.NoError(t, s.Register(Arith{}))
	addr := serve(t, s)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb strings.Builder
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"bench", addr, "Arith.Add", "[1,2]", "-d", "1h", "-c", "2"}, &env{stdout: &out, stderr: &errb})
	}()
	<-first
	cancel() // as Ctrl-C does: no new calls; the report still prints
	c := <-code
	assert.Equal(t, exitOK, c, "the calls in flight finish: none ends canceled")
	assert.NotContains(t, out.String(), "canceled")
	assert.Contains(t, out.String(), "Summary:")
	assert.NotContains(t, out.String(), "Count:        0\n")
}

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1 and
// "ferry.test" and returns the server's TLS config and the PEM file.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"ferry.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	path := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(path, certPEM, 0o600))
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, path
}

func TestCallOverTLS(t *testing.T) {
	cfg, caFile := selfSigned(t)
	l, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	require.NoError(t, err)
	s := newTestServer(t)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-done })
	addr := l.Addr().String()

	r := ferryCmd(t, "call", "-cacert", caFile, addr, "Arith.Add", "[20,22]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "42\n", r.stdout)

	r = ferryCmd(t, "call", "-plain", "-cacert", caFile, "-servername", "ferry.test", addr, "Arith.Add", "[1,2]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "3\n", r.stdout)

	r = ferryCmd(t, "call", "-tls", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code, "not signed by a system CA")
	assert.Contains(t, r.stderr, "TLS handshake")

	r = ferryCmd(t, "call", "-insecure", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitOK, r.code, r.stderr)

	r = ferryCmd(t, "call", "-cacert", caFile, "-servername", "other.test", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	r = ferryCmd(t, "call", "-cert", caFile, addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "-cert and -key go together")
}

// TestHealthAgainstTheHealthPackage checks the CLI against the real
// health service, not only the wire contract.
func TestHealthAgainstTheHealthPackage(t *testing.T) {
	s := server.New()
	h := health.NewServer()
	require.NoError(t, h.Register(s))
	h.SetStatus("db", health.NotServing)
	addr := serve(t, s)
	r := ferryCmd(t, "health", addr)
	assert.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "SERVING\n", r.stdout)
	r = ferryCmd(t, "health", addr, "db")
	assert.Equal(t, exitNotServing, r.code)
	assert.Equal(t, "NOT_SERVING\n", r.stdout)
	r = ferryCmd(t, "health", addr, "never-set")
	assert.Equal(t, exitNotServing, r.code)
	assert.Equal(t, "UNKNOWN\n", r.stdout)
}
