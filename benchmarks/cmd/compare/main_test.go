package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTinyRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "out.md"), filepath.Join(dir, "out.svg")
	cfg, err := parseFlags([]string{"-duration", "20ms", "-warmup", "5ms", "-rounds", "1", "-conc", "2",
		"-bulk-size", "65536", "-bulk-conc", "2", "-idle-conns", "5", "-idle-settle", "0s", "-stream-conc", "2", "-stream-window", "4",
		"-md", md, "-svg", svg})
	require.NoError(t, err)
	require.NoError(t, run(t.Context(), cfg))
	out, err := os.ReadFile(md)
	require.NoError(t, err)
	for _, name := range []string{"ferry", "ferry-go (async)", "grpc", "grpc-raw", "netrpc-gob", "tcp-raw", "yamux-raw"} {
		assert.Contains(t, string(out), "| 2 | "+name+" |")
	}
	assert.Contains(t, string(out), "## Bulk: 64 KiB payload echoed, 2 goroutines")
	assert.Contains(t, string(out), "## Memory per idle connection (5 connections")
	assert.Contains(t, string(out), "## Bidirectional streams: the message pipelined, 4 in flight per stream")
	for _, name := range []string{"ferry", "grpc", "grpc-raw"} {
		assert.Regexp(t, `\| 2 \| `+name+` \| [0-9,]+ \| [0-9.]+ \| [0-9]+ \|`, string(out))
	}
	chart, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(chart), "<polyline")
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-systems", "nope"},
		{"-scenarios", "echo,nope"},
		{"-stream-conc", "0"},
		{"-stream-window", "0"},
		{"-conc", "0"},
		{"-rounds", "0"},
		{"extra"},
	} {
		_, err := parseFlags(args)
		assert.Error(t, err, "%q", args)
	}
}
