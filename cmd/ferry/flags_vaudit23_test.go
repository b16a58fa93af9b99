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
