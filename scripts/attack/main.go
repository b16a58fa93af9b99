// Command attack measures what hostile clients can do to a Ferry server:
// it runs the attacks of issue 10 ("safe on an open port") one at a time,
// each against a fresh examples/arith/server with default options, and
// prints one line per run:
//
//	attack=NAME conns=N rss_peak_mib=X rss_after_mib=Y cpu_s=Z add_max_ms=W add_failed=K alive=true ...
//
// Usage, from anywhere in the module:
//
//	go run ./scripts/attack -attack all -conns 1,8
//	go run ./scripts/attack -attack noread -conns 8 -duration 10s
//	go run ./scripts/attack -list
//
// For each run the tool builds the server (once, into a temporary
// directory; -server uses a built one instead), starts it as a child with
// -addr 127.0.0.1:0 and its address space capped at -memcap, reads its
// "listening on HOST:PORT" line, and then, for -duration, runs the attack
// with -conns attacking connections (for the many-connection attacks,
// plainpartial and slowloris, -conns goroutines share the row's total).
// The attack stops itself; the server is watched for -after more, then
// killed. During both windows the tool samples the server's VmRSS and
// VmHWM (/proc/PID/status) and its CPU time (/proc/PID/stat), and every
// -probe a fresh client dials the server (client.Dial, a new connection)
// and calls Arith.Add.
//
// Fields: rss_peak_mib is the highest RSS during and after the attack;
// rss_after_mib the RSS at the end of the after window; cpu_s the server's
// CPU seconds (user + system) from the attack's start to the end; add_max_ms
// the slowest probe, dial included (failed ones count for the time they
// took, at most -probe-timeout); add_failed the probes that failed or took
// longer than 2 s; alive whether the server still ran at the end;
// add_after_max_ms the slowest probe started after the attack; probes how
// many were made; fds_peak the most files (connections, mostly) the server
// had open; capped=true when the tool killed the server because its RSS
// passed -memcap, and exit="..." the first line of the server's crash when
// it died by itself. The remaining fields are what the attack saw: bytes
// sent, streams the server accepted or closed, connections it held, the
// first error of each kind. -v prints every probe (start time, latency,
// error) to stderr.
//
// The attacking connections come from 127.0.0.2 (-from) and the probes
// from 127.0.0.1, so that a per-IP bound on the server can tell them
// apart.
//
// The attacks (-list prints them): teardown, extbomb, partial, refused,
// noread-{1k,64k,255k,1023k,4m}, plainpartial, plainpipeline-{64k,1m,4m},
// slowloris, openflood. Payloads span the size classes: 1 KiB, 64 KiB, just
// under the 256 KiB window every stream starts with, just under the 1 MiB
// window it is raised to, and MaxMessageSize (4 MiB). Every
// attack speaks raw bytes: yamux frames written by hand (scripts/attack's
// session type) or plain MessagePack-RPC.
//
// Safety: loopback only; every loop is bounded in count and time; the
// tool kills the server when its RSS passes -memcap (2 GiB by default;
// sampled every 20 ms), and caps its address space at -memcap + 4 GiB (an
// idle Go server maps 1.6 GB) so that one huge allocation fails at once,
// so an attack that makes today's server allocate without bound costs the
// machine at most about that. A server that dies with "runtime: out of
// memory" hit the address-space cap. extbomb declares -bomb elements
// (2^26 by default, 1 GiB of interface values); the real bomb declares up
// to 2^32-1 (64 GiB, which fails at once on most machines).
//
// The short versions run as tests (go test ./scripts/attack), asserting
// the targets; rows that fail on today's code skip unless
// FERRY_ATTACK_STRICT=1.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"
)

func main() {
	name := flag.String("attack", "all", "attack to run: a name from -list, a name without its size suffix, or all")
	connsFlag := flag.String("conns", "1", "attacking connections; a comma-separated list runs each")
	duration := flag.Duration("duration", 5*time.Second, "how long each attack runs")
	after := flag.Duration("after", 5*time.Second, "how long the server is watched after each attack")
	bin := flag.String("server", "", "a built examples/arith/server; empty: build one")
	memCap := flag.Int64("memcap", 2<<30, "the server's RSS cap in bytes (its address space gets 4 GiB more); 0: none")
	size := flag.Int("size", 0, "payload bytes; 0: each attack's own")
	bomb := flag.Uint("bomb", 1<<26, "the element count extbomb declares (1..2^32-1)")
	probe := flag.Duration("probe", 200*time.Millisecond, "how often a fresh client calls Arith.Add")
	from := flag.String("from", attackerIP.String(), "source address of the attacking connections (the probes use 127.0.0.1)")
	verbose := flag.Bool("v", false, "print every probe's time, latency and error to stderr")
	list := flag.Bool("list", false, "list the attacks and exit")
	flag.Parse()
	if attackerIP = net.ParseIP(*from); attackerIP == nil {
		fail(fmt.Errorf("-from %q is not an IP address", *from))
	}

	if *list {
		for _, a := range attacks {
			fmt.Printf("%-18s %s\n", a.name, a.what)
		}
		return
	}
	sel := selectAttacks(*name)
	conns, err := parseConns(*connsFlag)
	switch {
	case err != nil:
		fail(err)
	case len(sel) == 0:
		fail(fmt.Errorf("no attack called %q; -list shows them", *name))
	case *bomb < 1 || *bomb > 1<<32-1:
		fail(fmt.Errorf("-bomb %d is outside 1..2^32-1", *bomb))
	case *duration <= 0 || *duration > 10*time.Minute || *after < 0 || *after > 10*time.Minute:
		fail(fmt.Errorf("-duration and -after must be within 10 minutes"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	cfg := config{bin: *bin, duration: *duration, after: *after, memCap: *memCap, size: *size,
		bombLen: uint32(*bomb), probeEvery: *probe, probeTimeout: 10 * time.Second, slowMax: 2 * time.Second, verbose: *verbose}
	if cfg.bin == "" {
		dir, err := os.MkdirTemp("", "ferry-attack")
		if err != nil {
			fail(err)
		}
		defer os.RemoveAll(dir)
		if cfg.bin, err = buildServer(ctx, dir); err != nil {
			fail(err)
		}
	}
	for _, n := range conns {
		for _, a := range sel {
			if ctx.Err() != nil {
				return
			}
			cfg.conns = n
			res, err := runAttack(ctx, cfg, a)
			if err != nil {
				fmt.Fprintf(os.Stderr, "attack %s conns=%d: %v\n", a.name, n, err)
				continue
			}
			fmt.Println(res)
		}
	}
}

// parseConns reads "1,8" as [1 8]; each count is within 1..64.
func parseConns(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 64 {
			return nil, fmt.Errorf("-conns: %q is not a count within 1..64", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "attack:", err)
	os.Exit(2)
}
