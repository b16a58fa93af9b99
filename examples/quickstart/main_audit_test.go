package main

import (
	"bytes"
	"io"
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAuditPrints checks what the quickstart prints: the README's "sync,
// async and one-way calls, a typed error and a deadline, in one process",
// and the package doc's "shows a typed error and a deadline, and shuts
// down".
func TestAuditPrints(t *testing.T) {
	r, w, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = w
	read := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		read <- b
	}()
	func() {
		defer func() { os.Stdout = stdout }()
		main()
	}()
	require.NoError(t, w.Close())
	out := <-read
	require.NoError(t, r.Close())

	want := []string{
		`server listening on 127\.0\.0\.1:\d+`,
		`Call   Arith\.Add\(3, 4\) = 7`,
		`Go     Arith\.Add\(1, 10\) = 11`,
		`Go     Arith\.Add\(2, 20\) = 22`,
		`Go     Arith\.Add\(3, 30\) = 33`,
		`Notify Log\.Write: the server got "hello from a notification"`,
		`Error  Arith\.Div\(1, 0\): code=invalid_argument message="division by zero"`,
		`Deadline Slow\.Wait\(1m\) with a 50ms timeout: code=deadline_exceeded \(the handler stopped too: context deadline exceeded\)`,
		`server shut down`,
	}
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	require.Len(t, lines, len(want), "%s", out)
	for i, re := range want {
		assert.Regexp(t, regexp.MustCompile("^"+re+"$"), string(lines[i]))
	}
}
