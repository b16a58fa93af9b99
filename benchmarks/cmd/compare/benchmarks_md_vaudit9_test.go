package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/report"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests hold the repository's BENCHMARKS.md and BENCHMARKS.svg to
// what compare writes for the command BENCHMARKS.md states.

// benchmarksMd returns the repository's BENCHMARKS.md, and the arguments
// of the command it says produced its tables.
func benchmarksMd(t *testing.T) (string, []string) {
	t.Helper()
	b, err := os.ReadFile("../../../BENCHMARKS.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)\\*\\*Command\\*\\*.*?```sh\ngo run \\./cmd/compare ([^\n]*)\n```").FindStringSubmatch(string(b))
	require.NotNil(t, m, "BENCHMARKS.md states its command")
	return string(b), strings.Fields(m[1])
}

// TestDocsBenchmarksMethod checks that the method bullets of BENCHMARKS.md
// are those compare writes for the command it states (all but the
// machine, which is where it ran), message sizes included.
func TestDocsBenchmarksMethod(t *testing.T) {
	doc, args := benchmarksMd(t)
	cfg, err := parseFlags(args)
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, report.Markdown(&b, &report.Report{Meta: meta(cfg)}))
	var want []string
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "- ") && !strings.HasPrefix(line, "- machine: ") {
			want = append(want, line)
		}
	}
	require.NotEmpty(t, want)
	_, method, ok := strings.Cut(doc, "The method, for every table below:\n\n")
	require.True(t, ok)
	method, _, _ = strings.Cut(method, "\n\n")
	var got []string
	for _, line := range strings.Split(method, "\n") {
		if !strings.HasPrefix(line, "- machine: ") {
			got = append(got, line)
		}
	}
	assert.Equal(t, want, got)
}

// numeric is a table cell holding a figure.
var numeric = regexp.MustCompile(`^(-?[0-9][0-9,.]*×?|–)$`)

// idleSettled is the idle note's -idle-settle value, which the tiny run
// sets to 0s.
var idleSettled = regexp.MustCompile(`sat idle for [0-9a-zµ.]+ \(-idle-settle\)`)

// layout returns out from its first echo table on, with every figure in a
// table replaced by # (a row's first cell, its concurrency or system, is
// kept), and so is the idle note's -idle-settle value.
func layout(out string) []string {
	i := strings.Index(out, "\n## Echo of the message\n")
	if i < 0 {
		return nil
	}
	var lines []string
	for _, line := range strings.Split(strings.TrimSpace(out[i:]), "\n") {
		if strings.HasPrefix(line, "| ") {
			cells := strings.Split(line, " | ")
			for j := 1; j < len(cells); j++ {
				if c := strings.TrimSuffix(cells[j], " |"); numeric.MatchString(c) {
					cells[j] = strings.Replace(cells[j], c, "#", 1)
				}
			}
			line = strings.Join(cells, " | ")
		}
		lines = append(lines, idleSettled.ReplaceAllString(line, "sat idle for # (-idle-settle)"))
	}
	return lines
}

// TestDocsBenchmarksTables checks that BENCHMARKS.md's tables, with their
// headings and notes, are laid out as compare writes them for the command
// BENCHMARKS.md states: the same sections, columns, systems and
// concurrency levels in the same order (the figures aside), from a tiny
// run of that command (tinyRun).
func TestDocsBenchmarksTables(t *testing.T) {
	doc, args := benchmarksMd(t)
	out, _ := tinyRun(t, args...)
	want := layout(out)
	require.NotEmpty(t, want)
	assert.Equal(t, want, layout(doc))
}

// bulkName names a bulk payload size as the bulk heading does.
func bulkName(n int) string {
	var b strings.Builder
	_ = report.Markdown(&b, &report.Report{Meta: report.Meta{BulkConc: 1}, Bulk: []bench.Result{{Bulk: n}}})
	m := regexp.MustCompile(`## Bulk: (.*) payload`).FindStringSubmatch(b.String())
	if m == nil {
		return ""
	}
	return m[1]
}

// TestDocsBenchmarksChart checks that BENCHMARKS.svg is the chart of the
// run BENCHMARKS.md shows: its subtitle states the command's rounds and
// window and the default message's size, and its points are the calls/s
// of the default message's table, one for each of its rows.
func TestDocsBenchmarksChart(t *testing.T) {
	doc, args := benchmarksMd(t)
	cfg, err := parseFlags(args)
	require.NoError(t, err)
	svg, err := os.ReadFile("../../../BENCHMARKS.svg")
	require.NoError(t, err)
	assert.Contains(t, string(svg), fmt.Sprintf("median of %d round(s) × %v, %d-byte message (msgpack)",
		cfg.rounds, cfg.duration, len(bench.EncodedMessage(message.Default))))
	var want []string
	for _, r := range tableRows(section(t, doc, "## Echo of the message\n")) {
		want = append(want, fmt.Sprintf("%s, concurrency %s: %s calls/s", r[1], r[0], r[2]))
	}
	require.NotEmpty(t, want)
	var got []string
	for _, m := range regexp.MustCompile(`<title>([^<]*)</title>`).FindAllStringSubmatch(string(svg), -1) {
		got = append(got, m[1])
	}
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got)
}
