package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestVaudit23NegativeDurationsRefused: bench runs "for -n calls in total
// (default 1000 when -d is not given) or for -d", and -timeout is a
// deadline with "0: none". A negative -d ran without end (no -n default,
// no timer: stopped here only by the test's own deadline), and a negative
// -timeout silently meant no deadline at all. Both are usage errors now,
// refused before connecting.
func TestVaudit23NegativeDurationsRefused(t *testing.T) {
	addr := serve(t, newTestServer(t))
	for _, args := range [][]string{
		{"bench", "-d=-1s", addr, "Arith.Add", "[1,2]"},
		{"bench", "-n", "3", "-timeout=-1s", addr, "Arith.Add", "[1,2]"},
		{"call", "-timeout=-1s", addr, "Arith.Add", "[1,2]"},
		{"list", "-timeout=-5ms", addr},
		{"describe", "-timeout=-5ms", addr, "Arith.Add"},
		{"health", "-timeout=-5ms", addr},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
		var out, errb bytes.Buffer
		start := time.Now()
		code := run(ctx, args, &env{stdout: &out, stderr: &errb})
		cancel()
		assert.Equal(t, exitFail, code, "%q: %s%s", args, out.String(), errb.String())
		assert.Contains(t, errb.String(), "must not be negative", "%q", args)
		assert.Empty(t, out.String(), "%q", args)
		assert.Less(t, time.Since(start), 2*time.Second, "%q", args)
	}
}

// TestVaudit23PlainStreamsRefusedByName: "Streams need Ferry's session
// protocol: they are refused with -plain." With -plain, call and bench
// never asked what kind the method is, so a streaming method went out as
// a unary call: call exited 12 (unknown) with the server's "open a stream
// to call it", which no flag of the CLI does, and bench ran its whole
// load of such failures. Now both say that streams need the session
// protocol, with exit status 1, whether the kind comes from introspection
// or from the server's refusal.
func TestVaudit23PlainStreamsRefusedByName(t *testing.T) {
	for _, introspection := range []bool{true, false} {
		addr := arithServer(t, introspection)
		for _, args := range [][]string{
			{"call", "-plain", addr, "Counter.Count", "[3]"},
			{"call", "-plain", "-nocheck", addr, "Counter.Count", "[3]"},
			{"call", "-plain", addr, "Echo.Chat", `["a"]`},
			{"bench", "-plain", "-n", "5", addr, "Echo.Chat", `"hi"`},
		} {
			if !introspection && args[0] == "bench" {
				continue // bench learns a kind from the description only
			}
			r := ferryCmd(t, args...)
			assert.Equal(t, exitFail, r.code, "%q (introspection %v): %s", args, introspection, r.stderr)
			assert.Contains(t, r.stderr, "streams need Ferry's session protocol, not -plain", "%q (introspection %v)", args, introspection)
			assert.Empty(t, r.stdout, "%q (introspection %v)", args, introspection)
		}
	}
}

// TestBenchWorkersBounded: bench's -c and -conns have upper bounds (10,000
// and 1,000, as its doc and usage say): -c 1000000 -n 1 took 416 MB of
// memory before its one call. Past the bounds is a usage error, refused
// before connecting; the bounds themselves are accepted.
func TestBenchWorkersBounded(t *testing.T) {
	addr := serve(t, newTestServer(t))
	for _, args := range [][]string{
		{"bench", "-c", "10001", "-n", "1", addr, "Arith.Add", "[1,2]"},
		{"bench", "-c", "1000000", "-n", "1", addr, "Arith.Add", "[1,2]"},
		{"bench", "-conns", "1001", "-n", "1", addr, "Arith.Add", "[1,2]"},
	} {
		var out, errb bytes.Buffer
		code := run(t.Context(), args, &env{stdout: &out, stderr: &errb})
		assert.Equal(t, exitFail, code, "%q: %s%s", args, out.String(), errb.String())
		assert.Contains(t, errb.String(), "-c must be at most 10000 and -conns at most 1000", "%q", args)
		assert.Empty(t, out.String(), "%q", args)
	}
	var out, errb bytes.Buffer
	code := run(t.Context(), []string{"bench", "-c", "10000", "-conns", "2", "-n", "2", "-o", "json", addr, "Arith.Add", "[1,2]"}, &env{stdout: &out, stderr: &errb})
	assert.Equal(t, exitOK, code, "%s%s", out.String(), errb.String())
	assert.Contains(t, out.String(), `"concurrency": 10000`)
}
