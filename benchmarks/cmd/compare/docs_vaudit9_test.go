package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/report"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests hold benchmarks/README.md and compare's -h text to what
// compare does; benchmarks_md_vaudit9_test.go does BENCHMARKS.md's part.

// tinyOverrides shrink a run's time and scale; tinyRun adds smaller
// concurrency levels.
var tinyOverrides = []string{"-duration", "20ms", "-warmup", "40ms", "-rounds", "1",
	"-bulk-size", "65536", "-idle-conns", "4", "-idle-settle", "0s", "-svg", ""}

// tinyRuns keeps the markdown of each tiny run by the flags' values, so
// that tests that check the same configuration run it once.
var tinyRuns = map[string]string{}

// tinyRun runs compare as args configure it, only smaller: tinyOverrides,
// and as many concurrency levels of each kind as args give, but of 1, 2, 3
// and so on (every worker must make a call before its short window ends).
// It returns the markdown with the levels of args put back in the rows'
// first cells and args' bulk size and idle connection count in the
// headings, so that it reads as the report of args, and the configuration
// args give.
func tinyRun(t *testing.T, args ...string) (string, *config) {
	t.Helper()
	defer func(d time.Duration) { bench.IdleSettle = d }(bench.IdleSettle) // -idle-settle sets it
	stated, err := parseFlags(args)
	require.NoError(t, err)
	levels := func(n []int) string {
		var l []string
		for i := range n {
			l = append(l, fmt.Sprint(i+1))
		}
		return strings.Join(l, ",")
	}
	args = slices.Concat(args, tinyOverrides, []string{"-conc", levels(stated.conc),
		"-message-conc", levels(stated.messageConc), "-stream-conc", levels(stated.streamConc)})
	fs, _ := newFlagSet(&config{})
	require.NoError(t, fs.Parse(args))
	var key strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "md" {
			fmt.Fprintf(&key, "-%s=%s ", f.Name, f.Value)
		}
	})
	out, ok := tinyRuns[key.String()]
	if !ok {
		md := filepath.Join(t.TempDir(), "out.md")
		cfg, err := parseFlags(append(args, "-md", md))
		require.NoError(t, err)
		require.NoError(t, run(t.Context(), cfg))
		b, err := os.ReadFile(md)
		require.NoError(t, err)
		out = string(b)
		tinyRuns[key.String()] = out
	}
	return asStated(t, out, stated), stated
}

// asStated rewrites a tiny run's markdown as that of stated: each row's
// level i (1, 2, ...) becomes stated's i-th level of its table's kind, and
// the bulk and idle headings state stated's payload and connections.
func asStated(t *testing.T, out string, stated *config) string {
	t.Helper()
	var conc []int
	lines := strings.Split(out, "\n")
	for i, line := range lines {
		switch {
		case line == "## Echo of the message":
			conc = stated.conc
		case strings.HasPrefix(line, "## Echo of"):
			conc = stated.messageConc
		case strings.HasPrefix(line, "## Bidirectional streams"):
			conc = stated.streamConc
		case strings.HasPrefix(line, "## Bulk: "):
			_, rest, _ := strings.Cut(line, " payload echoed")
			lines[i], conc = "## Bulk: "+bulkName(stated.bulkSize)+" payload echoed"+rest, nil
		case strings.HasPrefix(line, "## Memory per idle connection ("):
			_, rest, _ := strings.Cut(line, " connections,")
			lines[i], conc = fmt.Sprintf("## Memory per idle connection (%d connections,%s", stated.idleConns, rest), nil
		case strings.HasPrefix(line, "## "):
			conc = nil
		case conc != nil && strings.HasPrefix(line, "| "):
			cells := strings.SplitN(line, " | ", 2)
			var level int
			if _, err := fmt.Sscanf(cells[0], "| %d", &level); err == nil {
				require.True(t, level >= 1 && level <= len(conc), line)
				lines[i] = fmt.Sprintf("| %d | %s", conc[level-1], cells[1])
			}
		}
	}
	return strings.Join(lines, "\n")
}

// tableRows returns the rows of the first table in section, without its
// header and separator, each as its cells.
func tableRows(section string) [][]string {
	var rows [][]string
	header := 0
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			if header > 0 {
				break
			}
			continue
		}
		if header++; header <= 2 {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		rows = append(rows, cells)
	}
	return rows
}

// systemsOf returns the distinct systems of rows (their cell col, a
// label) by name, in order.
func systemsOf(t *testing.T, cfg *config, rows [][]string, col int) []string {
	t.Helper()
	byLabel := map[string]string{}
	for _, s := range cfg.selected {
		byLabel[meta(cfg).Label(s.Name())] = s.Name()
	}
	var out []string
	for _, r := range rows {
		require.Greater(t, len(r), col)
		name, ok := byLabel[r[col]]
		require.True(t, ok, "row of an unknown system %q", r[col])
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// readme returns benchmarks/README.md with its lines joined by spaces.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	return strings.Join(strings.Fields(string(b)), " ")
}

// ticked returns the `names` in s.
func ticked(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile("`([^`]*)`").FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// TestDocsDefaultRun checks what README.md says a run with the default
// flags does against a tiny run with them: the windows and idle
// measurements a round makes, which systems run the bulk and stream
// scenarios, and what the systems table says ferry-reflect and
// ferry-plain run.
func TestDocsDefaultRun(t *testing.T) {
	out, cfg := tinyRun(t)
	doc := readme(t)

	m := regexp.MustCompile(`a round makes (\d+) echo windows \((\d+) of the default message, (\d+) of the other two\), (\d+) bulk and (\d+) stream windows, .* and (\d+) idle measurements`).FindStringSubmatch(doc)
	require.NotNil(t, m, "README.md says how many windows a round makes")
	def := tableRows(section(t, out, "## Echo of the message\n"))
	others := len(tableRows(section(t, out, "## Echo of the message declared as_array"))) +
		len(tableRows(section(t, out, "## Echo of the string-free message")))
	bulk := tableRows(section(t, out, "## Bulk:"))
	stream := tableRows(section(t, out, "## Bidirectional streams"))
	idle := tableRows(section(t, out, "## Memory per idle connection"))
	// One round: each window is one row.
	got := []string{fmt.Sprint(len(def) + others), fmt.Sprint(len(def)), fmt.Sprint(others),
		fmt.Sprint(len(bulk)), fmt.Sprint(len(stream)), fmt.Sprint(len(idle))}
	assert.Equal(t, m[1:], got, "echo windows (default, others), bulk, stream windows and idle measurements a round makes")

	bulkDoc := regexp.MustCompile(`\*\*bulk\*\*: .*? for the systems that carry raw bytes \(([^)]*)\)`).FindStringSubmatch(doc)
	require.NotNil(t, bulkDoc)
	assert.Equal(t, ticked(bulkDoc[1]), systemsOf(t, cfg, bulk, 0), "the systems README.md says run the bulk scenario")
	streamDoc := regexp.MustCompile(`\*\*stream\*\*: .*? for the systems that have them \(([^)]*)\)`).FindStringSubmatch(doc)
	require.NotNil(t, streamDoc)
	assert.Equal(t, ticked(streamDoc[1]), systemsOf(t, cfg, stream, 1), "the systems README.md says run the stream scenario")

	// The systems table: ferry-reflect runs the echo scenario only,
	// ferry-plain the echo, bulk and idle scenarios.
	assert.Regexp(t, "\\| `ferry-reflect` \\| [^|]*\\| [^|]*; echo scenario only \\(no bulk method, no streams; [^|]*the idle scenario skips it\\)", doc)
	assert.Regexp(t, "\\| `ferry-plain` \\| [^|]*\\| [^|]*; echo, bulk and idle scenarios \\(bare MessagePack-RPC has no streams\\) \\|", doc)
	runs := func(name string) []string {
		var in []string
		for what, rows := range map[string][][]string{"bulk": bulk, "stream": stream, "idle": idle} {
			col := 0
			if what == "stream" {
				col = 1
			}
			if slices.Contains(systemsOf(t, cfg, rows, col), name) {
				in = append(in, what)
			}
		}
		if slices.Contains(systemsOf(t, cfg, def, 1), name) {
			in = append(in, "echo")
		}
		slices.Sort(in)
		return in
	}
	assert.Equal(t, []string{"echo"}, runs("ferry-reflect"))
	assert.Equal(t, []string{"bulk", "echo", "idle"}, runs("ferry-plain"))
}

// TestDocsRatioColumns checks what README.md and -h say the ratio columns
// divide by: -baseline and -limit for the echo and bulk tables, grpc and
// -baseline for the stream table.
func TestDocsRatioColumns(t *testing.T) {
	cfg, err := parseFlags([]string{"-baseline", "yamux-raw", "-limit", "grpc-raw"})
	require.NoError(t, err)
	c := report.NewCollector(nameList(cfg.selected))
	for _, s := range []string{"ferry", "grpc", "grpc-raw", "yamux-raw"} {
		c.Add(bench.Result{System: s, Concurrency: 1, CallsPerSec: 1})
		c.Add(bench.Result{System: s, Concurrency: 4, Bulk: 1 << 20, CallsPerSec: 1})
		c.Add(bench.Result{System: s, Concurrency: 1, Window: 64, CallsPerSec: 1})
	}
	var b strings.Builder
	require.NoError(t, report.Markdown(&b, c.Report(meta(cfg))))
	out := b.String()
	assert.Contains(t, section(t, out, "## Echo of the message\n"), "| CPU µs/call | vs yamux-raw | vs grpc-raw |\n")
	assert.Contains(t, section(t, out, "## Bulk:"), "| CPU µs/call | vs yamux-raw | vs grpc-raw |\n")
	assert.Contains(t, section(t, out, "## Bidirectional streams"), "| CPU µs/msg | vs grpc | vs yamux-raw |\n")

	doc := readme(t)
	assert.True(t, strings.Contains(doc, "| `-baseline`, `-limit` | `grpc-raw`, `tcp-raw` | systems the two ratio columns of the echo and bulk tables divide by; the stream table's divide by `grpc` and by `-baseline` |"),
		"README.md's -baseline and -limit row")
	fs, _ := newFlagSet(&config{})
	assert.Contains(t, fs.Lookup("baseline").Usage, "the stream table's second")
}

// TestDocsProfiles checks what -cpuprofile and -trace write: a CPU profile
// (gzipped protobuf) and an execution trace of the whole run, both
// complete when the run ends; and that a profile started before the other
// fails to start is still written.
func TestDocsProfiles(t *testing.T) {
	dir := t.TempDir()
	prof, tr := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "run.trace")
	cfg, err := parseFlags([]string{"-systems", "ferry", "-scenarios", "echo", "-messages", "default",
		"-conc", "4", "-duration", "150ms", "-warmup", "10ms", "-rounds", "1", "-md", filepath.Join(dir, "out.md"),
		"-cpuprofile", prof, "-trace", tr})
	require.NoError(t, err)
	require.NoError(t, profiled(cfg, func() error { return run(t.Context(), cfg) }))

	b, err := os.ReadFile(prof)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	require.NoError(t, err, "a CPU profile is gzipped")
	raw, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Contains(t, string(raw), "github.com/ferryrpc/ferry/", "the profile has samples of Ferry's code")
	b, err = os.ReadFile(tr)
	require.NoError(t, err)
	assert.Regexp(t, `^go 1\.[0-9]+ trace\x00`, string(b[:min(len(b), 16)]), "an execution trace's header")
	assert.Greater(t, len(b), 1<<10)

	// The trace cannot start: the CPU profile is stopped and written all
	// the same, and the run does not happen.
	cfg.trace = filepath.Join(dir, "missing", "run.trace")
	require.NoError(t, os.Remove(prof))
	ran := false
	err = profiled(cfg, func() error { ran = true; return nil })
	require.Error(t, err)
	assert.False(t, ran)
	b, err = os.ReadFile(prof)
	require.NoError(t, err)
	_, err = gzip.NewReader(bytes.NewReader(b))
	assert.NoError(t, err, "the CPU profile was written")
}

// TestDocsSystemsFlag checks -systems as README.md describes it: a
// comma-separated subset of the systems, each named once however often it
// is given, and at least one.
func TestDocsSystemsFlag(t *testing.T) {
	cfg, err := parseFlags([]string{"-systems", "ferry,tcp-raw,ferry", "-messages", "default"})
	require.NoError(t, err)
	assert.Equal(t, []string{"ferry", "tcp-raw"}, nameList(cfg.selected))
	for _, list := range []string{",", " , "} {
		_, err = parseFlags([]string{"-systems", list, "-messages", "default"})
		assert.Error(t, err, "-systems %q names no system", list)
	}
}

// TestDocsRoundRobin checks README.md's "one after the other within each
// round (round-robin, starting from a different system each round)".
func TestDocsRoundRobin(t *testing.T) {
	all := nameList(mustPick(t, ""))
	for round := range 2 * len(all) {
		order := nameList(roundOrder(mustPick(t, ""), round))
		i := round % len(all)
		assert.Equal(t, slices.Concat(all[i:], all[:i]), order, "round %d", round)
	}
	assert.NotEqual(t, nameList(roundOrder(mustPick(t, ""), 0))[0], nameList(roundOrder(mustPick(t, ""), 1))[0])
}

func mustPick(t *testing.T, list string) []bench.System {
	t.Helper()
	s, err := pick(list)
	require.NoError(t, err)
	return s
}
