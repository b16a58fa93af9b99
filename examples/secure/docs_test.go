package main

import (
	"bufio"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsServePrintsACommandThatWorks checks the package doc's "With
// -serve it keeps serving on -addr, with its files in -dir, for your own
// clients to try (it prints a ferry CLI command that works)": the printed
// command, run from the repository's root with the ferry CLI built from
// this tree, gets alice's greeting.
func TestDocsServePrintsACommandThatWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the ferry CLI")
	}
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "ferry")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "./cmd/ferry")
	build.Dir = root
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, pw, true, "127.0.0.1:0", dir)
		pw.CloseWithError(err)
		done <- err
	}()
	lines := bufio.NewScanner(pr)
	var command string
	for command == "" && lines.Scan() {
		if c, ok := strings.CutPrefix(strings.TrimSpace(lines.Text()), "go run ./cmd/ferry "); ok {
			command = c
		}
	}
	require.NotEmpty(t, command, "no command printed: %v", lines.Err())
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	defer func() {
		// The test stops it by canceling run's context, which also ends
		// the context its shutdown is bounded by (main's never ends).
		cancel()
		if err := <-done; err != nil {
			require.ErrorIs(t, err, context.Canceled)
		}
	}()

	// The printed arguments: plain words, the last one in single quotes.
	args := strings.Fields(command)
	last := args[len(args)-1]
	require.True(t, strings.HasPrefix(last, "'") && strings.HasSuffix(last, "'"), command)
	args[len(args)-1] = strings.Trim(last, "'")
	assert.Contains(t, args, filepath.Join(dir, "ca.crt"), "the files are in -dir")
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = root
	got, err := cmd.CombinedOutput()
	require.NoError(t, err, "ferry %s: %s", command, got)
	assert.Equal(t, `"hello you, from spiffe://example.org/alice"`+"\n", string(got))
}
