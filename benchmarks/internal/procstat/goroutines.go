package procstat

import (
	"bufio"
	"bytes"
	"fmt"
	"runtime/pprof"
	"strconv"
	"strings"
)

// GoroutinesByLabel counts the process's goroutines by the value of the
// profiler label key (runtime/pprof labels, which a goroutine inherits
// from the one that starts it); goroutines without the label count under
// "". It reads the goroutine profile, which stops the world briefly.
func GoroutinesByLabel(key string) (map[string]int, error) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, err
	}
	return parseGoroutines(&buf, key)
}

// parseGoroutines reads a goroutine profile written with debug=1: a
// "total" line, then per distinct stack and label set a "N @ pc..." line,
// optionally followed by "# labels: {...}".
func parseGoroutines(r *bytes.Buffer, key string) (map[string]int, error) {
	out := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	pending, value := 0, ""
	flush := func() {
		out[value] += pending
		pending, value = 0, ""
	}
	for sc.Scan() {
		line := sc.Text()
		if n, rest, ok := strings.Cut(line, " @ "); ok && rest != "" {
			count, err := strconv.Atoi(n)
			if err != nil {
				return nil, fmt.Errorf("procstat: goroutine profile line %q", line)
			}
			flush()
			pending = count
			continue
		}
		if labels, ok := strings.CutPrefix(line, "# labels: "); ok && pending > 0 {
			value = labelValue(labels, key)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// labelValue returns key's value in a label set printed as
// {"k1":"v1", "k2":"v2"} (Go-quoted strings), or "" if it is not there.
func labelValue(labels, key string) string {
	_, rest, ok := strings.Cut(labels, strconv.Quote(key)+":")
	if !ok {
		return ""
	}
	v, err := strconv.QuotedPrefix(rest)
	if err != nil {
		return ""
	}
	v, err = strconv.Unquote(v)
	if err != nil {
		return ""
	}
	return v
}
