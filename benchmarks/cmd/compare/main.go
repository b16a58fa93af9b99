// Command compare runs Ferry and its peers (grpc-go with protobuf and with
// raw bytes, net/rpc with gob, and the raw TCP and yamux echo limits) in
// one process, round-robin, and writes markdown tables and an SVG chart.
// Its scenarios: unary echo of a message at several concurrency levels
// (also the same message declared as_array, and a string-free one, on a
// subset of the systems), bulk payloads, memory and goroutines per idle
// connection, and the message pipelined through bidirectional streams
// (Ferry and gRPC only).
//
// From the benchmarks folder:
//
//	go run ./cmd/compare -duration 3s -rounds 3 -md results.md -svg results.svg
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/report"
	"github.com/ferryrpc/ferry/benchmarks/systems"
)

type config struct {
	duration, warmup   time.Duration
	rounds             int
	systems, scenarios string
	cpuProfile         string
	trace              string
	conc               []int
	messages           []message.Kind
	messageConc        []int
	// messageSystems maps each system of -message-systems to the messages
	// other than the default that it runs.
	messageSystems     map[string][]message.Kind
	bulkSize, bulkConc int
	idleConns          int
	streamConc         []int
	streamWindow       int
	mdPath, svgPath    string
	baseline, limit    string
	selected           []bench.System
	echo, bulk, idle   bool
	stream             bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err = profiled(cfg, func() error { return run(ctx, cfg) })
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// listFlags are the flags that parseFlags parses further, as given.
type listFlags struct {
	conc, messages, messageConc, messageSystems, streamConc *string
}

// newFlagSet defines compare's flags, which store into c, except the
// lists, which stay strings in the returned listFlags.
func newFlagSet(c *config) (*flag.FlagSet, listFlags) {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.DurationVar(&c.duration, "duration", 2*time.Second, "measured window per system and scenario")
	fs.DurationVar(&c.warmup, "warmup", 250*time.Millisecond, "unmeasured warm-up before each window")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; every figure is the median over them")
	fs.StringVar(&c.systems, "systems", "", "comma-separated systems to run (default all: "+names(systems.All())+")")
	fs.StringVar(&c.scenarios, "scenarios", "echo,bulk,idle,stream", "comma-separated scenarios: echo, bulk, idle, stream")
	concStr := fs.String("conc", "1,16,256", "comma-separated concurrency levels of the echo scenario for the default message (-message-conc for the others)")
	messagesStr := fs.String("messages", "default,asarray,nostrings", "comma-separated messages the echo scenario runs: default, asarray, nostrings")
	messageConcStr := fs.String("message-conc", "1,16,256", "comma-separated concurrency levels for the messages other than the default")
	messageSysStr := fs.String("message-systems", defaultMessageSystems,
		"comma-separated systems (those also in -systems) that run the messages other than the default; name:m1+m2 limits one to those messages")
	fs.IntVar(&c.bulkSize, "bulk-size", 1<<20, "payload bytes per call in the bulk scenario")
	fs.IntVar(&c.bulkConc, "bulk-conc", 4, "goroutines in the bulk scenario")
	fs.IntVar(&c.idleConns, "idle-conns", 2000, "connections opened in the idle-memory scenario")
	fs.DurationVar(&bench.IdleSettle, "idle-settle", bench.IdleSettle, "how long idle connections sit before memory is read")
	streamConcStr := fs.String("stream-conc", "1,16", "comma-separated stream counts (one stream per worker) for the stream scenario")
	fs.IntVar(&c.streamWindow, "stream-window", 64, "messages in flight per stream in the stream scenario")
	fs.StringVar(&c.mdPath, "md", "-", `markdown output path ("-" for stdout)`)
	fs.StringVar(&c.svgPath, "svg", "", "SVG chart output path (empty: no chart)")
	fs.StringVar(&c.baseline, "baseline", "grpc-raw", "system the first ratio column divides by (the stream table's second: its first divides by grpc)")
	fs.StringVar(&c.limit, "limit", "tcp-raw", "system the second ratio column divides by")
	fs.StringVar(&c.trace, "trace", "", "write an execution trace of the whole run to this file (go tool trace)")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run (every system, both ends) to this file")
	return fs, listFlags{conc: concStr, messages: messagesStr, messageConc: messageConcStr, messageSystems: messageSysStr, streamConc: streamConcStr}
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fs, lists := newFlagSet(c)
	concStr, messagesStr, messageConcStr, messageSysStr, streamConcStr := lists.conc, lists.messages, lists.messageConc, lists.messageSystems, lists.streamConc
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.conc, err = parseInts(*concStr); err != nil {
		return nil, err
	}
	if c.streamConc, err = parseInts(*streamConcStr); err != nil {
		return nil, err
	}
	if c.selected, err = pick(c.systems); err != nil {
		return nil, err
	}
	if c.messageConc, err = parseInts(*messageConcStr); err != nil {
		return nil, err
	}
	if c.messages, err = parseMessages(*messagesStr); err != nil {
		return nil, err
	}
	if c.messageSystems, err = parseMessageSystems(*messageSysStr); err != nil {
		return nil, err
	}
	for _, s := range splitList(c.scenarios) {
		switch s {
		case "echo":
			c.echo = true
		case "bulk":
			c.bulk = true
		case "idle":
			c.idle = true
		case "stream":
			c.stream = true
		default:
			return nil, fmt.Errorf("unknown scenario %q (want echo, bulk, idle, stream)", s)
		}
	}
	switch {
	case c.rounds < 1:
		return nil, errors.New("-rounds must be at least 1")
	case c.duration <= 0 || c.warmup < 0:
		return nil, errors.New("-duration must be positive and -warmup not negative")
	case c.bulkSize < 1 || c.bulkConc < 1 || c.idleConns < 1 || c.streamWindow < 1:
		return nil, errors.New("-bulk-size, -bulk-conc, -idle-conns and -stream-window must be positive")
	}
	if c.echo {
		for _, k := range c.messages {
			if k != message.Default && len(c.systemsFor(k, c.selected)) == 0 {
				return nil, fmt.Errorf("no system of -systems runs the %s message (see -message-systems)", k)
			}
		}
	}
	return c, nil
}

// defaultMessageSystems run the messages other than the default: typed
// Ferry and the two systems the ratio columns divide by, and Ferry's
// reflection dispatch on the string-free message (where its allocations
// are the framework's own). With three -message-conc levels that is 21
// windows a round, each costing about -duration plus -warmup: with
// ferry-reflect's 3 windows of the default message, about 3 minutes over
// three rounds with the defaults.
const defaultMessageSystems = "ferry,ferry-reflect:nostrings,grpc-raw,tcp-raw"

// parseMessageSystems parses -message-systems: "name" runs every message
// other than the default, "name:m1+m2" only those.
func parseMessageSystems(s string) (map[string][]message.Kind, error) {
	out := map[string][]message.Kind{}
	for _, f := range splitList(s) {
		name, list, limited := strings.Cut(f, ":")
		if _, err := pick(name); err != nil {
			return nil, fmt.Errorf("-message-systems: %w", err)
		}
		var ks []message.Kind
		if limited {
			var err error
			if ks, err = parseMessages(strings.ReplaceAll(list, "+", ",")); err != nil {
				return nil, fmt.Errorf("-message-systems %s: %w", name, err)
			}
			if slices.Contains(ks, message.Default) {
				return nil, fmt.Errorf("-message-systems %s: every system runs the default message", name)
			}
		} else {
			ks = []message.Kind{message.AsArray, message.NoStrings}
		}
		out[name] = ks
	}
	return out, nil
}

// systemsFor returns the systems of order that echo k: all of them for
// the default message, those -message-systems gives k for the others.
func (c *config) systemsFor(k message.Kind, order []bench.System) []bench.System {
	if k == message.Default {
		return order
	}
	var out []bench.System
	for _, s := range order {
		if slices.Contains(c.messageSystems[s.Name()], k) {
			out = append(out, s)
		}
	}
	return out
}

// parseMessages parses -messages: names of message.Kind, each once.
func parseMessages(s string) ([]message.Kind, error) {
	var out []message.Kind
	for _, f := range splitList(s) {
		k, err := message.ParseKind(f)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("-messages names no message")
	}
	slices.Sort(out)
	return out, nil
}

// run measures every round; within a round, each scenario runs every
// system in turn, starting from a different system each round.
func run(ctx context.Context, cfg *config) error {
	col := report.NewCollector(nameList(cfg.selected))
	for round := range cfg.rounds {
		order := roundOrder(cfg.selected, round)
		if cfg.echo {
			if err := echoWindows(ctx, cfg, col, order, round); err != nil {
				return err
			}
		}
		if cfg.bulk {
			o := bench.Options{Concurrency: cfg.bulkConc, Workload: bench.Workload{Bulk: cfg.bulkSize}}
			if err := window(ctx, cfg, col, order, round, o); err != nil {
				return err
			}
		}
		if cfg.stream {
			for _, n := range cfg.streamConc {
				if err := streamWindow(ctx, cfg, col, order, round, n); err != nil {
					return err
				}
			}
		}
		if cfg.idle {
			for _, sys := range order {
				if v, ok := sys.(bench.Variant); ok && v.VariantOf() != "" {
					continue // its connections are those of the system it varies
				}
				r, err := bench.Idle(ctx, sys, cfg.idleConns)
				if err != nil {
					return err
				}
				progress("round %d/%d idle %-13s RSS %.1f KiB/conn, heap %.1f KiB/conn, %.1f goroutines/conn", round+1, cfg.rounds, sys.Name(), r.RSSPerConn/1024, r.HeapPerConn/1024, r.GoroutinesPC)
				col.AddIdle(r)
			}
		}
	}
	rep := col.Report(meta(cfg))
	if err := writeTo(cfg.mdPath, func(w io.Writer) error { return report.Markdown(w, rep) }); err != nil {
		return err
	}
	if cfg.svgPath != "" {
		return writeTo(cfg.svgPath, func(w io.Writer) error { return report.SVG(w, rep, "tcp-raw", "yamux-raw") })
	}
	return nil
}

// roundOrder is the order in which round runs the systems: round-robin,
// each round starting from the next system.
func roundOrder(selected []bench.System, round int) []bench.System {
	i := round % len(selected)
	return slices.Concat(selected[i:], selected[:i])
}

// echoWindows runs the echo scenario: the default message on every system
// of order at each -conc level, then each other message on the systems of
// order that are in -message-systems at each -message-conc level.
func echoWindows(ctx context.Context, cfg *config, col *report.Collector, order []bench.System, round int) error {
	for _, k := range cfg.messages {
		conc := cfg.conc
		if k != message.Default {
			conc = cfg.messageConc
		}
		for _, c := range conc {
			o := bench.Options{Concurrency: c, Workload: bench.Workload{Message: k}}
			if err := window(ctx, cfg, col, cfg.systemsFor(k, order), round, o); err != nil {
				return err
			}
		}
	}
	return nil
}

// window runs one scenario on every system of order, skipping systems that
// do not support its workload.
func window(ctx context.Context, cfg *config, col *report.Collector, order []bench.System, round int, o bench.Options) error {
	o.Warmup, o.Duration = cfg.warmup, cfg.duration
	for _, sys := range order {
		r, err := bench.Run(ctx, sys, o)
		if errors.Is(err, bench.ErrUnsupported) {
			continue
		}
		if err != nil {
			return err
		}
		what := o.Workload.Message.String()
		if o.Workload.Bulk > 0 {
			what = fmt.Sprintf("bulk=%d", o.Workload.Bulk)
		}
		progress("round %d/%d %-9s conc=%-3d %-13s %10.0f calls/s  p99 %v", round+1, cfg.rounds, what, o.Concurrency, sys.Name(), r.CallsPerSec, r.P99)
		col.Add(r)
	}
	return nil
}

// streamWindow runs the stream scenario with n streams on every system of
// order that has streams.
func streamWindow(ctx context.Context, cfg *config, col *report.Collector, order []bench.System, round, n int) error {
	o := bench.StreamOptions{Streams: n, Window: cfg.streamWindow, Warmup: cfg.warmup, Duration: cfg.duration}
	for _, sys := range order {
		r, err := bench.RunStream(ctx, sys, o)
		if errors.Is(err, bench.ErrUnsupported) {
			continue
		}
		if err != nil {
			return err
		}
		progress("round %d/%d stream streams=%-3d %-10s %10.0f msgs/s  %6.1f MiB/s", round+1, cfg.rounds, n, sys.Name(), r.CallsPerSec, r.CallsPerSec*float64(r.MessageBytes)/(1<<20))
		col.Add(r)
	}
	return nil
}

func progress(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

func writeTo(path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(os.Stdout)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// pick returns the systems list names, in its order and each once: all of
// them when list is empty.
func pick(list string) ([]bench.System, error) {
	all := systems.All()
	if list == "" {
		return all, nil
	}
	var out []bench.System
	for _, name := range splitList(list) {
		i := slices.IndexFunc(all, func(s bench.System) bool { return s.Name() == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown system %q (have %s)", name, names(all))
		}
		if !slices.ContainsFunc(out, func(s bench.System) bool { return s.Name() == name }) {
			out = append(out, all[i])
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-systems %q names no system", list)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad concurrency %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func nameList(ss []bench.System) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name()
	}
	return out
}

func names(ss []bench.System) string { return strings.Join(nameList(ss), ", ") }
