package main

import (
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// readmeFlags returns the flag table of benchmarks/README.md: each flag's
// name (without the dash) and its default as the table states it, with
// "all" and "none" standing for an empty value.
func readmeFlags(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(b), "| flag | default | meaning |")
	require.True(t, ok, "README.md has the flag table")
	tick := regexp.MustCompile("`([^`]*)`")
	out := map[string]string{}
	for _, line := range strings.Split(table, "\n")[2:] {
		if !strings.HasPrefix(line, "|") {
			break
		}
		cells := strings.Split(line, "|")
		require.GreaterOrEqual(t, len(cells), 4, line)
		var names, defs []string
		for _, m := range tick.FindAllStringSubmatch(cells[1], -1) {
			names = append(names, strings.TrimPrefix(m[1], "-"))
		}
		for _, m := range tick.FindAllStringSubmatch(cells[2], -1) {
			defs = append(defs, m[1])
		}
		switch d := strings.TrimSpace(cells[2]); {
		case len(defs) > 0:
		case d == "all" || d == "none":
			defs = []string{""}
		default:
			t.Fatalf("README.md: default %q of %v is neither `value` nor all or none", d, names)
		}
		require.Len(t, defs, len(names), line)
		for i, n := range names {
			out[n] = defs[i]
		}
	}
	return out
}

// TestReadmeFlagTable checks benchmarks/README.md's flag table against
// cmd/compare: every flag is in the table, every row is a flag, and the
// defaults agree.
func TestReadmeFlagTable(t *testing.T) {
	documented := readmeFlags(t)
	fs, _ := newFlagSet(&config{})
	fs.VisitAll(func(f *flag.Flag) {
		def, ok := documented[f.Name]
		if !assert.True(t, ok, "-%s is missing from README.md's flag table", f.Name) {
			return
		}
		assert.Equal(t, f.DefValue, def, "README.md's default of -%s", f.Name)
		delete(documented, f.Name)
	})
	assert.Empty(t, documented, "README.md documents flags compare does not have")
}

// TestReadmeCommandsParse checks that the command lines README.md shows
// parse, and that "With the defaults (-duration 2s -rounds 3)" is so.
func TestReadmeCommandsParse(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	cmds := regexp.MustCompile(`go run \./cmd/compare( [^\n]*)`).FindAllStringSubmatch(string(b), -1)
	require.NotEmpty(t, cmds)
	for _, m := range cmds {
		_, err := parseFlags(strings.Fields(m[1]))
		assert.NoError(t, err, m[0])
	}
	defs := regexp.MustCompile("With the defaults\\s+\\(`([^`]*)`\\)").FindStringSubmatch(string(b))
	require.NotNil(t, defs, "README.md states the defaults a round is timed with")
	fs, _ := newFlagSet(&config{})
	for _, kv := range regexp.MustCompile(`-(\S+) (\S+)`).FindAllStringSubmatch(defs[1], -1) {
		f := fs.Lookup(kv[1])
		if assert.NotNil(t, f, kv[0]) {
			assert.Equal(t, f.DefValue, kv[2], kv[0])
		}
	}
}
