package e2e_test

// The tests in this file check README.md the way a reader would use it:
// its quickstart server and client compiled as printed, and its headline
// figures against BENCHMARKS.md.

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/server"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeGoBlocks returns the ```go blocks of README.md, in order.
func readmeGoBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	var blocks []string
	rest := string(b)
	for range 20 {
		_, after, ok := strings.Cut(rest, "```go\n")
		if !ok {
			break
		}
		block, tail, ok := strings.Cut(after, "```")
		require.True(t, ok, "an unterminated go block in README.md")
		blocks = append(blocks, block)
		rest = tail
	}
	return blocks
}

// buildReadmeProgram writes src as the main package of a module that
// requires this tree, builds it offline, and returns the binary.
func buildReadmeProgram(t *testing.T, name, src string) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	dir := t.TempDir()
	mod := "module readme" + name + "\n\ngo 1.24\n\nrequire github.com/ferryrpc/ferry v0.0.0\n\nreplace github.com/ferryrpc/ferry => " + root + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(mod), 0o600))
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o600))
	bin := filepath.Join(dir, name)
	build := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "the README's %s does not build:\n%s\n%s", name, out, src)
	return bin
}

// freeAddr returns a loopback address with a port the system just handed
// out and released, for a program that takes a fixed address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestReadmeQuickstart builds the README's quickstart server and client
// exactly as printed (their imports added, and the server's address,
// 127.0.0.1:7000 in the README, replaced by a free port), runs them, and
// checks what the client prints and the README's promises about a plain
// MessagePack-RPC client of the same server.
func TestReadmeQuickstart(t *testing.T) {
	blocks := readmeGoBlocks(t)
	require.Len(t, blocks, 2, "README.md has a server and a client block")
	srvSrc, cliSrc := blocks[0], blocks[1]
	require.Contains(t, srvSrc, `"127.0.0.1:7000"`)
	require.Contains(t, cliSrc, `"127.0.0.1:7000"`)
	// The client uses the server's Args; a reader puts them in one file
	// or copies the type: the declarations before the server's main.
	decls, _, ok := strings.Cut(srvSrc, "func main()")
	require.True(t, ok)

	addr := freeAddr(t)
	srvProg := "package main\n\nimport (\n\t\"context\"\n\t\"log\"\n\t\"net\"\n\n\t\"github.com/ferryrpc/ferry/server\"\n)\n\n" +
		strings.ReplaceAll(srvSrc, "127.0.0.1:7000", addr)
	cliProg := "package main\n\nimport (\n\t\"context\"\n\t\"fmt\"\n\t\"log\"\n\t\"time\"\n\n\t\"github.com/ferryrpc/ferry\"\n\t\"github.com/ferryrpc/ferry/client\"\n)\n\n" +
		"type Args struct{ A, B int }\n\n" + strings.ReplaceAll(cliSrc, "127.0.0.1:7000", addr)
	require.Contains(t, decls, "type Args struct{ A, B int }", "the client's Args are the server's")
	srvBin := buildReadmeProgram(t, "server", srvProg)
	cliBin := buildReadmeProgram(t, "client", cliProg)

	srv := exec.Command(srvBin)
	var srvOut lockedBuffer
	srv.Stdout, srv.Stderr = &srvOut, &srvOut
	require.NoError(t, srv.Start())
	exited := make(chan error, 1)
	go func() { exited <- srv.Wait() }()
	t.Cleanup(func() {
		_ = srv.Process.Kill()
		<-exited
	})
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 10*time.Second, 20*time.Millisecond, "the server never listened: %s", &srvOut)

	out, err := exec.CommandContext(t.Context(), cliBin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "7 <nil>\n11 <nil>\n<nil>\nunimplemented\n", string(out),
		"Call 3+4, Go 5+6, Notify, and the unknown method's code")

	// "The same server answers a Python client speaking plain
	// MessagePack-RPC: Arith.Add [3, 4] returns 7 ... [3.5, 4] gets
	// invalid_argument with Arith.Add: argument 1 (A): want an integer, got
	// 3.5, and so do an extra positional param and a map none of whose keys
	// names a field."
	c := dialRaw(t, addr)
	r := c.call(request(1, "Arith.Add", []any{3, 4}))
	assert.Nil(t, r.err)
	assert.EqualValues(t, 7, r.result)
	r = c.call(request(2, "Arith.Add", []any{3.5, 4}, map[string]any{}))
	assert.Equal(t, "Arith.Add: argument 1 (A): want an integer, got 3.5", r.err)
	assert.EqualValues(t, ferry.CodeInvalidArgument, r.code())
	for i, params := range [][]any{{3, 4, 5}, {map[string]any{"a": 3, "b": 4}}} {
		r = c.call(request(uint32(3+i), "Arith.Add", params, map[string]any{}))
		assert.NotNil(t, r.err, "%v", params)
		assert.EqualValues(t, ferry.CodeInvalidArgument, r.code(), "%v: %v", params, r.err)
	}
	select {
	case err := <-exited:
		exited <- err
		t.Fatalf("the server exited: %v: %s", err, &srvOut)
	default:
	}
}

// TestReadmeCallers checks "typed generic forms (client.Invoke,
// client.Async) that work on anything that calls (ferry.Caller: a client,
// a server's peer, a cluster client)" at compile time, and the README's
// "server.ListenReusePort" and "server.PeerFromContext" names.
func TestReadmeCallers(t *testing.T) {
	var callers = []ferry.Caller{(*client.Client)(nil), (*server.Peer)(nil), (*cluster.Client)(nil)}
	assert.Len(t, callers, 3)
	_ = client.Invoke[int]
	_ = client.Async[int]
	_ = server.ListenReusePort
	_ = server.PeerFromContext
}

// benchRow returns the cells of the first row of BENCHMARKS.md whose
// leading cells are lead, from the section headed heading.
func benchRow(t *testing.T, doc, heading string, lead ...string) []string {
	t.Helper()
	_, section, ok := strings.Cut(doc, "\n## "+heading)
	require.True(t, ok, "BENCHMARKS.md has a section %q", heading)
	section, _, _ = strings.Cut(section, "\n## ")
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if len(cells) >= len(lead) && fmt.Sprint(cells[:len(lead)]) == fmt.Sprint(lead) {
			return cells
		}
	}
	t.Fatalf("BENCHMARKS.md, %q: no row %v", heading, lead)
	return nil
}

// TestReadmeFiguresMatchBenchmarks checks every figure of the README's
// first paragraph against the tables of BENCHMARKS.md.
func TestReadmeFiguresMatchBenchmarks(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	b, err := os.ReadFile("../BENCHMARKS.md")
	require.NoError(t, err)
	doc := string(b)
	intro, _, _ := strings.Cut(string(readme), "\n- ")
	intro = strings.Join(strings.Fields(intro), " ")

	m := regexp.MustCompile(`made ([\d.]+)×, ([\d.]+)× and ([\d.]+)× the calls per second of gRPC-Go with a raw-bytes codec at 1, 16 and 256 concurrent calls`).FindStringSubmatch(intro)
	require.NotNil(t, m, intro)
	for i, conc := range []string{"1", "16", "256"} {
		row := benchRow(t, doc, "Echo of the message\n", conc, "ferry (typed)")
		assert.Equal(t, m[i+1]+"×", row[len(row)-2], "vs grpc-raw at %s", conc)
	}

	m = regexp.MustCompile(`moved 1 MiB payloads at ([\d.]+)× its rate \((\d+) % of a bare TCP echo's\)`).FindStringSubmatch(intro)
	require.NotNil(t, m, intro)
	row := benchRow(t, doc, "Bulk", "ferry (typed)")
	assert.Equal(t, m[1]+"×", row[len(row)-2], "bulk vs grpc-raw")
	assert.Equal(t, "0."+m[2]+"×", row[len(row)-1], "bulk vs tcp-raw")

	m = regexp.MustCompile(`streamed ([\d.]+)× \(1 stream\) and ([\d.]+)× \(16 streams\) the messages of gRPC-Go`).FindStringSubmatch(intro)
	require.NotNil(t, m, intro)
	for i, n := range []string{"1", "16"} {
		row := benchRow(t, doc, "Bidirectional streams", n, "ferry (typed)")
		assert.Equal(t, m[i+1]+"×", row[len(row)-2], "streams vs grpc at %s", n)
	}

	m = regexp.MustCompile(`kept (\d+) goroutines and ([\d.]+) KiB per idle connection \(gRPC-Go: (\d+) and ([\d.]+) KiB\)`).FindStringSubmatch(intro)
	require.NotNil(t, m, intro)
	row = benchRow(t, doc, "Memory per idle connection", "ferry (typed)")
	assert.Equal(t, m[2], row[1], "ferry KiB per idle connection")
	assert.Equal(t, m[1]+".0", row[4], "ferry goroutines per idle connection")
	row = benchRow(t, doc, "Memory per idle connection", "grpc")
	assert.Equal(t, m[4], row[1], "gRPC-Go KiB per idle connection")
	assert.Equal(t, m[3]+".0", row[4], "gRPC-Go goroutines per idle connection")

	m = regexp.MustCompile(`a (\d+)-byte message echoed`).FindStringSubmatch(intro)
	require.NotNil(t, m, "the message's size: %s", intro)
	assert.True(t, strings.Contains(doc, "(msgpack "+m[1]+" B,"), "BENCHMARKS.md: the message is not %s bytes in msgpack", m[1])
}

// TestReadmeNames refers to every API name README.md and SECURITY.md
// mention, so that a rename breaks this test's build, not a reader's.
func TestReadmeNames(t *testing.T) {
	names := []any{
		// README: call styles, errors, metadata.
		(*client.Client).Call, (*client.Client).Go, (*client.Client).Notify, ferry.CodeOf, ferry.NotExecuted,
		ferry.IncomingMetadata, (*ferry.Error).Error,
		// Both directions, streams.
		server.PeerFromContext, (*server.Peer).Call, client.Handle[int, int], client.HandleServerStream[int, int],
		client.WithHandlers, server.HandleBidi[int, int], server.HandleServerStream[int, int],
		server.HandleClientStream[int, int], server.WithStreamInterceptors, client.WithStreamInterceptors,
		// Packages table.
		server.New, (*server.Server).Register, server.Handle[int, int], (*server.Server).Serve, (*server.Server).Shutdown,
		client.Dial, client.New, transport.DefaultConfig, cluster.New,
		// Safe on an open port; SECURITY.md's bounds and checks.
		server.WithTLS, client.WithTLS, server.WithAuth, client.WithToken, server.WithMemoryBudget,
		server.WithConnLimits, server.DefaultConnLimits, server.DefaultMemoryBudget, server.WithMaxConcurrentCalls,
		server.ListenReusePort, client.WithPlainMsgpackRPC, client.WithServerInterceptors, client.WithServerAuth,
		client.WithStreamServerInterceptors,
		// auth.
		auth.NewTokens, auth.LoadTokens, auth.Certificates, auth.All, auth.Matching, auth.NewPolicy,
		(*auth.Policy).Interceptor, (*auth.Policy).StreamInterceptor, (*auth.Policy).Allow, (*auth.Policy).Denied,
		pemfile.Load, (*pemfile.Files).ServerAuth,
		// faultnet: latency, stall, blackhole, partition (Drop), bandwidth.
		(*faultnet.Faults).SetLatency, (*faultnet.Faults).Stall, (*faultnet.Faults).Blackhole,
		(*faultnet.Faults).Drop, (*faultnet.Faults).SetBandwidth,
	}
	for i, n := range names {
		assert.NotNil(t, n, "name %d", i)
	}
	var info server.ConnInfo
	_ = info.QuietSince
	_ = client.Params{0, 0, -1, false}
	var raw codec.Raw
	_ = raw
}

// TestReadmeLicenceCoversEveryDependency checks that the README's licence
// paragraph names every module the root module's non-test code needs.
func TestReadmeLicenceCoversEveryDependency(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	cmd := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-f", "{{with .Module}}{{.Path}}{{end}}", "./...")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, err := cmd.Output()
	require.NoError(t, err)
	readme, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	_, licence, ok := strings.Cut(string(readme), "\n## License\n")
	require.True(t, ok)
	licence = strings.Join(strings.Fields(licence), " ")
	named := map[string]string{
		"github.com/hashicorp/yamux":          "yamux (MPL-2.0",
		"github.com/vmihailenco/msgpack/v5":   "msgpack",
		"github.com/vmihailenco/tagparser/v2": "tagparser",
		"golang.org/x/term":                   "golang.org/x/term",
		"golang.org/x/sys":                    "golang.org/x/sys",
	}
	seen := map[string]bool{}
	for _, mod := range strings.Fields(string(out)) {
		if mod == "github.com/ferryrpc/ferry" || seen[mod] {
			continue
		}
		seen[mod] = true
		name, ok := named[mod]
		if assert.True(t, ok, "README's licence paragraph does not name %s", mod) {
			assert.Contains(t, licence, name, mod)
		}
	}
}
