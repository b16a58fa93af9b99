package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/health"
	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// arithServer serves what examples/arith/server serves: the arith
// services, introspection and health.
func arithServer(t *testing.T, withIntrospection bool) string {
	t.Helper()
	s := server.New()
	require.NoError(t, arith.Register(s))
	require.NoError(t, health.NewServer().Register(s))
	if withIntrospection {
		require.NoError(t, introspect.Register(s))
	}
	return serve(t, s)
}

// ferryCmdIn runs the CLI with stdin as its standard input.
func ferryCmdIn(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), args, &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestCallServerStream(t *testing.T) {
	for _, introspection := range []bool{true, false} {
		addr := arithServer(t, introspection)
		r := ferryCmd(t, "call", addr, "Counter.Count", "[3]")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "1\n2\n3\n", r.stdout)

		r = ferryCmd(t, "call", addr, "Counter.Count", "0")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "", r.stdout)

		// The handler's error ends the stream with its code.
		r = ferryCmd(t, "call", "-nocheck", addr, "Counter.Count", "[-1]")
		assert.Equal(t, exitCodeBase+int(ferry.CodeInvalidArgument), r.code, r.stderr)
		assert.Contains(t, r.stderr, "outside 0..")
	}
}

func TestCallBidiFromStdin(t *testing.T) {
	for _, introspection := range []bool{true, false} {
		addr := arithServer(t, introspection)
		r := ferryCmdIn(t, "\"a\"\n\"b\"\n", "call", addr, "Echo.Chat")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "\"a\"\n\"b\"\n", r.stdout)

		// Any JSON value per line; blank lines are skipped; maps keep
		// their order; the output is one compact value per line.
		r = ferryCmdIn(t, "{\"z\": 1, \"a\": [1, 2]}\n\n  7  \n", "call", addr, "Echo.Chat")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "{\"z\":1,\"a\":[1,2]}\n7\n", r.stdout)

		// No input: the stream ends at once.
		r = ferryCmdIn(t, "", "call", addr, "Echo.Chat")
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "", r.stdout)

		// Messages from the command line instead of stdin.
		r = ferryCmdIn(t, "\"ignored\"\n", "call", addr, "Echo.Chat", `["x", 2]`)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "\"x\"\n2\n", r.stdout)

		// A line that is not JSON cancels the call and names the line.
		r = ferryCmdIn(t, "\"a\"\nnot json\n\"c\"\n", "call", addr, "Echo.Chat")
		assert.Equal(t, exitFail, r.code, r.stderr)
		assert.Contains(t, r.stderr, "standard input, line 2")
		assert.NotContains(t, r.stdout, "\"c\"")
	}
}

func TestCallStreamNeedsASession(t *testing.T) {
	addr := arithServer(t, true)
	r := ferryCmd(t, "call", "-plain", addr, "Counter.Count", "[3]")
	assert.NotEqual(t, exitOK, r.code)
	assert.Contains(t, r.stderr, "streaming method")
}

func TestDescribeAndListStreams(t *testing.T) {
	addr := arithServer(t, true)
	r := ferryCmd(t, "describe", addr, "Counter.Count")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "Counter.Count (server streaming: one request, many responses)\n  args:  int64\n  reply: int64\n", r.stdout)
	r = ferryCmd(t, "describe", addr, "Echo.Chat")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Echo.Chat (bidi streaming: messages both ways)\n")

	r = ferryCmd(t, "list", addr)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Regexp(t, `Counter.Count +server\n`, r.stdout)
	r = ferryCmd(t, "list", "-json", addr)
	require.Equal(t, exitOK, r.code, r.stderr)
	var lr introspect.ListReply
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &lr))
	kinds := map[string]string{}
	for _, s := range lr.Services {
		for _, m := range s.Methods {
			kinds[m.Name] = m.Kind
		}
	}
	assert.Equal(t, "server", kinds["Counter.Count"])
	assert.Equal(t, "bidi", kinds["Echo.Chat"])
	assert.Equal(t, "unary", kinds["Arith.Add"])
}

func TestBenchBidi(t *testing.T) {
	addr := arithServer(t, true)
	r := ferryCmd(t, "bench", "-n", "200", "-c", "4", "-o", "json", addr, "Echo.Chat", `"hi"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	var rep jsonReport
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rep))
	assert.True(t, rep.Stream)
	assert.Equal(t, uint64(200), rep.Count)
	assert.Equal(t, uint64(0), rep.Errors)
	assert.Equal(t, map[string]uint64{"OK": 200}, rep.Status)
	assert.Greater(t, rep.RPS, 0.0)

	r = ferryCmd(t, "bench", "-n", "50", addr, "Echo.Chat", `"hi"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "Messages/sec:")

	r = ferryCmd(t, "bench", "-n", "5", addr, "Counter.Count", `[3]`)
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "bench drives unary and bidi methods")
}
