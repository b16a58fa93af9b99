package main

import (
	"bufio"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/report"
	"github.com/ferryrpc/ferry/benchmarks/systems/grpcsys"
	"github.com/ferryrpc/ferry/benchmarks/systems/netrpcsys"
)

// meta describes this run for the report header.
func meta(cfg *config) report.Meta {
	return report.Meta{
		Command:    "go run ./cmd/compare " + strings.Join(os.Args[1:], " "),
		Date:       time.Now(),
		GoVersion:  runtime.Version(),
		Platform:   platform(),
		CPUs:       runtime.GOMAXPROCS(0),
		Warmup:     cfg.warmup,
		Duration:   cfg.duration,
		Rounds:     cfg.rounds,
		Sizes:      sizes(),
		BulkConc:   cfg.bulkConc,
		IdleConns:  cfg.idleConns,
		IdleSettle: bench.IdleSettle,
		Baseline:   cfg.baseline,
		Limit:      cfg.limit,
		AsyncNames: []string{"ferry-go"},
		Labels:     map[string]string{"ferry": "ferry (typed)", "ferry-reflect": "ferry (reflect)", "ferry-go": "ferry-go (async)", "ferry-plain": "ferry-plain (no yamux)"},
		Notes: []string{"ferry (typed), ferry-go and ferry-plain register typed handlers (server.Handle); ferry (reflect) registers the same echoes " +
			"as net/rpc-style methods of a receiver (Server.RegisterName), dispatched by reflection"},
		StreamBaselines: streamBaselines(cfg.baseline),
	}
}

// sizes returns the encoded size of every message in each encoding.
func sizes() []report.Size {
	var out []report.Size
	for _, k := range message.Kinds() {
		out = append(out,
			report.Size{Message: k, Encoding: "msgpack", Bytes: len(bench.EncodedMessage(k))},
			report.Size{Message: k, Encoding: "protobuf", Bytes: grpcsys.ProtoSize(k)},
			report.Size{Message: k, Encoding: "gob after the type description", Bytes: netrpcsys.GobSize(k)})
	}
	return out
}

// streamBaselines returns the systems the stream table divides by: grpc,
// and the -baseline system unless it is grpc.
func streamBaselines(baseline string) []string {
	if baseline == "grpc" {
		return []string{"grpc"}
	}
	return []string{"grpc", baseline}
}

// platform names the OS, architecture, CPU model and kernel.
func platform() string {
	s := runtime.GOOS + "/" + runtime.GOARCH
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				s += ", " + strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		s += ", Linux " + strings.TrimSpace(string(b))
	}
	return s
}
