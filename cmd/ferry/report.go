package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// percentiles reported by bench.
var percentiles = []float64{10, 25, 50, 75, 90, 95, 99, 99.9}

func writeReport(w io.Writer, r *benchResult) error {
	switch r.cfg.output {
	case "json":
		return writeJSONReport(w, r)
	case "csv":
		return writeCSVReport(w, r)
	}
	writeTextReport(w, r)
	return nil
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 3, 64) }

func (r *benchResult) rps() float64 { return float64(r.count) / max(r.elapsed.Seconds(), 1e-9) }

// writeTextReport prints the summary the way ghz does.
func writeTextReport(w io.Writer, r *benchResult) {
	h := &r.hist
	fmt.Fprintf(w, "\nSummary:\n")
	fmt.Fprintf(w, "  Count:        %d\n", r.count)
	fmt.Fprintf(w, "  Total:        %s ms\n", ms(r.elapsed))
	fmt.Fprintf(w, "  Slowest:      %s ms\n", ms(h.Max()))
	fmt.Fprintf(w, "  Fastest:      %s ms\n", ms(h.Min()))
	fmt.Fprintf(w, "  Average:      %s ms\n", ms(h.Mean()))
	if r.cfg.stream {
		fmt.Fprintf(w, "  Messages/sec: %.2f (each sent and echoed on a bidi stream; times are per message)\n", r.rps())
	} else {
		fmt.Fprintf(w, "  Requests/sec: %.2f\n", r.rps())
	}
	if r.count == 0 {
		return
	}

	fmt.Fprintf(w, "\nResponse time histogram (ms, log scale):\n")
	buckets := h.Log(10)
	var top uint64
	for _, b := range buckets {
		top = max(top, b.Count)
	}
	digits := len(strconv.FormatUint(top, 10))
	for _, b := range buckets {
		bar := strings.Repeat("∎", int(b.Count*40/max(top, 1)))
		fmt.Fprintf(w, "  %9s [%*d] |%s\n", ms(b.Hi), digits, b.Count, bar)
	}

	fmt.Fprintf(w, "\nLatency distribution:\n")
	for _, p := range percentiles {
		fmt.Fprintf(w, "  %v %% in %s ms\n", p, ms(h.Quantile(p/100)))
	}

	fmt.Fprintf(w, "\nStatus code distribution:\n")
	for _, c := range sortedKeys(r.codes) {
		fmt.Fprintf(w, "  %-20s %d responses\n", "["+c+"]", r.codes[c])
	}
	if len(r.messages) > 0 {
		fmt.Fprintf(w, "\nError distribution:\n")
		for _, m := range sortedKeys(r.messages) {
			fmt.Fprintf(w, "  [%d] %s\n", r.messages[m], printable(m))
		}
	}
}

func sortedKeys(m map[string]uint64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || m[keys[i]] == m[keys[j]] && keys[i] < keys[j] })
	return keys
}

// jsonReport is bench's -o json output; durations in nanoseconds.
type jsonReport struct {
	Addr        string            `json:"addr"`
	Method      string            `json:"method"`
	Stream      bool              `json:"stream,omitempty"` // count, rps and latencies are per message on bidi streams
	Concurrency int               `json:"concurrency"`
	Connections int               `json:"connections"`
	Count       uint64            `json:"count"`
	Errors      uint64            `json:"errors"`
	TotalNS     int64             `json:"total_ns"`
	RPS         float64           `json:"rps"`
	MinNS       int64             `json:"min_ns"`
	MeanNS      int64             `json:"mean_ns"`
	MaxNS       int64             `json:"max_ns"`
	Percentiles map[string]int64  `json:"percentiles_ns"` // "p50", "p99.9", ...
	Histogram   []jsonBucket      `json:"histogram"`
	Status      map[string]uint64 `json:"status"` // "OK" or the error code's name
	Messages    map[string]uint64 `json:"error_messages,omitempty"`
}

type jsonBucket struct {
	LoNS  int64  `json:"lo_ns"`
	HiNS  int64  `json:"hi_ns"`
	Count uint64 `json:"count"`
}

func writeJSONReport(w io.Writer, r *benchResult) error {
	h := &r.hist
	rep := jsonReport{
		Addr: r.cfg.addr, Method: r.cfg.method, Stream: r.cfg.stream, Concurrency: r.cfg.concurrency, Connections: r.cfg.conns,
		Count: r.count, Errors: r.errors, TotalNS: int64(r.elapsed), RPS: r.rps(),
		MinNS: int64(h.Min()), MeanNS: int64(h.Mean()), MaxNS: int64(h.Max()),
		Percentiles: map[string]int64{}, Status: r.codes, Messages: r.messages,
	}
	for _, p := range percentiles {
		rep.Percentiles["p"+strconv.FormatFloat(p, 'f', -1, 64)] = int64(h.Quantile(p / 100))
	}
	for _, b := range h.Log(10) {
		rep.Histogram = append(rep.Histogram, jsonBucket{LoNS: int64(b.Lo), HiNS: int64(b.Hi), Count: b.Count})
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", jsonSafe(b))
	return err
}

// writeCSVReport writes a header and one row, so that runs append to a
// spreadsheet; latencies in milliseconds.
func writeCSVReport(w io.Writer, r *benchResult) error {
	h := &r.hist
	header := []string{"addr", "method", "concurrency", "connections", "count", "errors", "total_ms", "rps", "min_ms", "mean_ms"}
	row := []string{r.cfg.addr, r.cfg.method, strconv.Itoa(r.cfg.concurrency), strconv.Itoa(r.cfg.conns),
		strconv.FormatUint(r.count, 10), strconv.FormatUint(r.errors, 10), ms(r.elapsed),
		strconv.FormatFloat(r.rps(), 'f', 2, 64), ms(h.Min()), ms(h.Mean())}
	for _, p := range percentiles {
		header = append(header, "p"+strconv.FormatFloat(p, 'f', -1, 64)+"_ms")
		row = append(row, ms(h.Quantile(p/100)))
	}
	header = append(header, "max_ms")
	row = append(row, ms(h.Max()))
	cw := csv.NewWriter(w)
	_ = cw.Write(header)
	_ = cw.Write(row)
	cw.Flush()
	return cw.Error()
}
