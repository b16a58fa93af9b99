package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/ferrytest"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type Args struct{ A, B int64 }

type Arith struct{}

func (Arith) Add(ctx context.Context, a Args, r *int64) error { *r = a.A + a.B; return nil }

func (Arith) Div(ctx context.Context, a Args, r *int64) error {
	if a.B == 0 {
		return ferry.NewError(ferry.CodeInvalidArgument, "division by zero").WithDetail("field", "B")
	}
	*r = a.A / a.B
	return nil
}

type Echo struct{}

func (Echo) Echo(ctx context.Context, x codec.Raw, r *codec.Raw) error { *r = x; return nil }

// Wait blocks until the call's deadline or cancellation.
func (Echo) Wait(ctx context.Context, _ struct{}, _ *struct{}) error {
	<-ctx.Done()
	return ctx.Err()
}

// Header returns the value of the metadata key it is given.
func (Echo) Header(ctx context.Context, key string, r *string) error {
	*r = ferry.IncomingMetadata(ctx)[key]
	return nil
}

type healthArgsT struct {
	Service string `msgpack:"service"`
}

// fakeHealth answers the Health.Check wire contract: "" and "db" serve,
// "cache" does not, others are not found.
func fakeHealth(ctx context.Context, a *healthArgsT) (*map[string]string, error) {
	var status string
	switch a.Service {
	case "", "db":
		status = "SERVING"
	case "cache":
		status = "NOT_SERVING"
	default:
		return nil, ferry.Errorf(ferry.CodeNotFound, "unknown service %q", a.Service)
	}
	return &map[string]string{"status": status}, nil
}

// newTestServer returns a server with the test services, introspection
// and health.
func newTestServer(t *testing.T) *server.Server {
	t.Helper()
	s := server.New()
	require.NoError(t, s.Register(Arith{}))
	require.NoError(t, s.Register(Echo{}))
	require.NoError(t, server.Handle(s, "Health.Check", fakeHealth))
	require.NoError(t, introspect.Register(s))
	return s
}

// serve serves s on 127.0.0.1:0 until cleanup and returns its address.
func serve(t *testing.T, s *server.Server) string {
	t.Helper()
	return ferrytest.Serve(t, s)
}

// result is one in-process run of the CLI.
type result struct {
	code           int
	stdout, stderr string
}

// ferryCmd runs the CLI's main logic in-process.
func ferryCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &env{stdout: &out, stderr: &errb})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

// closedAddr returns an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestUsage(t *testing.T) {
	r := ferryCmd(t)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "Usage: ferry COMMAND")

	assert.Equal(t, exitOK, ferryCmd(t, "help").code)
	assert.Equal(t, exitOK, ferryCmd(t, "call", "-h").code)
	r = ferryCmd(t, "frobnicate")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, `unknown command "frobnicate"`)

	r = ferryCmd(t, "call", "127.0.0.1:1")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "want ADDR, METHOD")
	assert.Equal(t, exitFail, ferryCmd(t, "call", "-nosuchflag", "a", "b").code)
	assert.Equal(t, exitFail, ferryCmd(t, "call", "-bin", "octal", "a", "b").code)

	r = ferryCmd(t, "version")
	assert.Equal(t, exitOK, r.code)
	assert.True(t, strings.HasPrefix(r.stdout, "ferry "))
}

func TestParseFlagsAnywhere(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  []string
		c    int
	}{
		{[]string{"a", "b", "-c", "3", "c"}, []string{"a", "b", "c"}, 3},
		{[]string{"-c", "3", "a", "b"}, []string{"a", "b"}, 3},
		{[]string{"a", "-5", "-c", "2"}, []string{"a", "-5"}, 2},
		{[]string{"a", "--", "-c", "9"}, []string{"a", "-c", "9"}, 1},
		{[]string{"a", "-c=4", "-1.5e3"}, []string{"a", "-1.5e3"}, 4},
	} {
		fs := newFlagSet(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}, "t", "")
		c := fs.Int("c", 1, "")
		pos, err := parseFlags(fs, tc.args)
		require.NoError(t, err, "%q", tc.args)
		assert.Equal(t, tc.pos, pos, "%q", tc.args)
		assert.Equal(t, tc.c, *c, "%q", tc.args)
	}
}

// TestDevNullIsNotATerminal: bench draws its progress bar only on a
// terminal; /dev/null, a character device, is not one.
func TestDevNullIsNotATerminal(t *testing.T) {
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	require.NoError(t, err)
	defer f.Close()
	assert.False(t, isTerminal(f))
	g, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	defer g.Close()
	assert.False(t, isTerminal(g))
}
