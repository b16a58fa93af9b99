package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/systems"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestTinyRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "out.md"), filepath.Join(dir, "out.svg")
	defer func(d time.Duration) { bench.IdleSettle = d }(bench.IdleSettle) // -idle-settle sets it
	cfg, err := parseFlags([]string{"-duration", "20ms", "-warmup", "5ms", "-rounds", "1", "-conc", "2",
		"-message-conc", "3", "-bulk-size", "65536", "-bulk-conc", "2", "-idle-conns", "5", "-idle-settle", "0s", "-stream-conc", "2", "-stream-window", "4",
		"-md", md, "-svg", svg})
	require.NoError(t, err)
	require.NoError(t, run(t.Context(), cfg))
	out, err := os.ReadFile(md)
	require.NoError(t, err)
	for _, name := range []string{"ferry (typed)", "ferry (reflect)", "ferry-go (async)", "ferry-plain (no yamux)", "grpc", "grpc-raw", "netrpc-gob", "tcp-raw", "yamux-raw"} {
		assert.Contains(t, string(out), "| 2 | "+name+" |")
	}
	// The other messages, at -message-conc, on -message-systems.
	asArray := section(t, string(out), "## Echo of the message declared as_array")
	noStrings := section(t, string(out), "## Echo of the string-free message")
	for _, name := range []string{"ferry (typed)", "grpc-raw", "tcp-raw"} {
		assert.Contains(t, asArray, "| 3 | "+name+" |")
		assert.Contains(t, noStrings, "| 3 | "+name+" |")
	}
	assert.NotContains(t, asArray, "ferry (reflect)")
	assert.Contains(t, noStrings, "| 3 | ferry (reflect) |")
	// No row at -conc 2 (a row starts with its concurrency; a cell such as
	// B/call may well read 2).
	assert.NotRegexp(t, `(?m)^\| 2 \|`, asArray, "-message-conc")
	for _, name := range []string{"ferry-go (async)", "grpc", "netrpc-gob", "yamux-raw"} {
		assert.NotContains(t, asArray+noStrings, "| 3 | "+name+" |")
	}
	assert.Regexp(t, `\| 3 \| ferry \(typed\) \| [0-9,]+ \|( [0-9.,]+ \|){6} [0-9.]+× \| [0-9.]+× \|`, noStrings, "ratios within the table")
	assert.Contains(t, string(out), "- ferry (typed), ferry-go and ferry-plain register typed handlers")
	assert.Contains(t, string(out), "## Bulk: 64 KiB payload echoed, 2 goroutines")
	idle := section(t, string(out), "## Memory per idle connection (5 connections")
	assert.Contains(t, idle, "| goroutines/conn |")
	assert.Contains(t, idle, "sat idle for 0s (-idle-settle)", "the note states the -idle-settle used")
	assert.Regexp(t, `\| ferry \(typed\) \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| [0-9.]+ \|`, idle)
	assert.NotContains(t, idle, "reflect", "a handler variant has the same connections")
	assert.Contains(t, string(out), "## Bidirectional streams: the message pipelined, 4 in flight per stream")
	for _, name := range []string{"ferry (typed)", "grpc", "grpc-raw"} {
		assert.Regexp(t, `\| 2 \| `+regexp.QuoteMeta(name)+` \| [0-9,]+ \| [0-9.]+ \| [0-9]+ \|`, string(out))
	}
	bulk := section(t, string(out), "## Bulk: 64 KiB payload echoed, 2 goroutines")
	assert.Regexp(t, `\| ferry-plain \(no yamux\) \| [0-9,.]+ \|`, bulk)
	assert.Regexp(t, `\| ferry-plain \(no yamux\) \| -?[0-9.]+ \| -?[0-9.]+ \| -?[0-9.]+ \| [0-9.]+ \|`, idle)
	streams := section(t, string(out), "## Bidirectional streams")
	assert.NotContains(t, streams, "ferry-plain", "bare MessagePack-RPC has no streams")
	chart, err := os.ReadFile(svg)
	require.NoError(t, err)
	assert.Contains(t, string(chart), "<polyline")
}

// section returns the part of out from heading to the next heading.
func section(t *testing.T, out, heading string) string {
	t.Helper()
	i := strings.Index(out, heading)
	require.GreaterOrEqual(t, i, 0, "no %q", heading)
	s := out[i+len(heading):]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	return s
}

func TestMessageFlags(t *testing.T) {
	cfg, err := parseFlags(nil)
	require.NoError(t, err)
	assert.Equal(t, []message.Kind{message.Default, message.AsArray, message.NoStrings}, cfg.messages)
	assert.Equal(t, []int{1, 16, 256}, cfg.messageConc)
	got := func(k message.Kind) []string { return nameList(cfg.systemsFor(k, cfg.selected)) }
	assert.Equal(t, nameList(systems.All()), got(message.Default))
	assert.Equal(t, []string{"ferry", "grpc-raw", "tcp-raw"}, got(message.AsArray))
	assert.Equal(t, []string{"ferry", "ferry-reflect", "grpc-raw", "tcp-raw"}, got(message.NoStrings))

	cfg, err = parseFlags([]string{"-messages", "nostrings, default,nostrings", "-message-conc", "4,8",
		"-systems", "grpc,ferry,tcp-raw", "-message-systems", "grpc:nostrings,ferry:asarray+nostrings,yamux-raw"})
	require.NoError(t, err)
	assert.Equal(t, []message.Kind{message.Default, message.NoStrings}, cfg.messages)
	assert.Equal(t, []int{4, 8}, cfg.messageConc)
	assert.Equal(t, []string{"grpc", "ferry"}, got(message.NoStrings), "in -systems order, within -systems")
	assert.Equal(t, []string{"ferry"}, got(message.AsArray))
	assert.Equal(t, []string{"grpc", "ferry", "tcp-raw"}, got(message.Default))

	// -message-systems need not cover -systems when only the default runs,
	// nor when the echo scenario does not run.
	_, err = parseFlags([]string{"-messages", "default", "-systems", "netrpc-gob"})
	require.NoError(t, err)
	_, err = parseFlags([]string{"-scenarios", "idle", "-systems", "netrpc-gob"})
	require.NoError(t, err)
}

func TestFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-systems", "nope"},
		{"-scenarios", "echo,nope"},
		{"-stream-conc", "0"},
		{"-stream-window", "0"},
		{"-conc", "0"},
		{"-messages", "default,nope"},
		{"-messages", ","},
		{"-message-conc", "0"},
		{"-message-systems", "nope"},
		{"-message-systems", "ferry:nope"},
		{"-message-systems", "ferry:default"},
		{"-message-systems", "ferry:"},
		{"-systems", "netrpc-gob"}, // runs none of the other messages
		{"-systems", "ferry-reflect", "-messages", "asarray"},
		{"-rounds", "0"},
		{"extra"},
	} {
		_, err := parseFlags(args)
		assert.Error(t, err, "%q", args)
	}
}
