package demo

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
)

// Discovery is how the demo's servers are found.
type Discovery interface {
	// Describe names the mechanism for the log ("a static list", "etcd at ...").
	Describe() string
	// Register publishes a server; it runs in the server's process. The
	// returned function deregisters it, for a graceful stop.
	Register(ctx context.Context, name, addr string) (func(context.Context) error, error)
	// Resolver returns what the client watches, given the servers'
	// addresses (which a registry ignores).
	Resolver(addrs []string) (resolver.Resolver, error)
	// Options returns client options the mechanism needs.
	Options() []cluster.Option
}

// Static is the Discovery of a fixed list: nothing to register. Since a
// list cannot say that a server came back, the client's reconnect backoff
// alone decides how soon it is used again; the demo caps it at 1 s
// (-backoff-max).
type Static struct{}

// Describe implements Discovery.
func (Static) Describe() string { return "a static list" }

// Register implements Discovery: there is nothing to register.
func (Static) Register(context.Context, string, string) (func(context.Context) error, error) {
	return func(context.Context) error { return nil }, nil
}

// Resolver implements Discovery.
func (Static) Resolver(addrs []string) (resolver.Resolver, error) {
	return resolver.Static(addrs...), nil
}

// Options implements Discovery.
func (Static) Options() []cluster.Option { return nil }

// The scenarios a run can play.
const (
	ScenarioKill    = "kill"    // the first server is killed (SIGKILL) and later restarted
	ScenarioRolling = "rolling" // each server in turn is stopped gracefully and restarted, Rounds times
)

// Config is what a run does.
type Config struct {
	Scenario   string        // ScenarioKill (the default) or ScenarioRolling
	Servers    int           // servers started
	Callers    int           // concurrent callers
	Duration   time.Duration // the whole run (a rolling run also lasts until its last restart is back)
	KillAt     time.Duration // kill: when the first server is killed (SIGKILL); 0: never
	RestartAt  time.Duration // kill: when it starts again; 0: never
	Rounds     int           // rolling: full rounds of graceful restarts, every server once per round
	Idempotent bool          // mark Demo.Who idempotent (retried after a lost connection); Demo.Add never is
	Pace       time.Duration // pause between one caller's calls
	BackoffMax time.Duration // cap (and, when smaller, base) of the reconnect backoff; 0: the default (30 s)
	Verbose    bool          // log progress to the log writer
}

// DefaultConfig is the demo the issue asks for: 3 servers, 64 callers,
// 30 s, a kill at 10 s and a restart at 20 s; with the rolling scenario,
// three rounds of graceful restarts spread over the 30 s.
func DefaultConfig() Config {
	return Config{Scenario: ScenarioKill, Servers: 3, Callers: 64, Duration: 30 * time.Second, KillAt: 10 * time.Second,
		RestartAt: 20 * time.Second, Rounds: 3, Idempotent: true, Pace: time.Millisecond}
}

// RegisterFlags binds c's fields to flags of fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Scenario, "scenario", c.Scenario, "kill: SIGKILL the first server and restart it; rolling: stop each server gracefully and restart it, -rounds times")
	fs.IntVar(&c.Servers, "servers", c.Servers, "servers to start")
	fs.IntVar(&c.Callers, "callers", c.Callers, "concurrent callers")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the run")
	fs.DurationVar(&c.KillAt, "kill-at", c.KillAt, "kill: when to kill the first server with SIGKILL (0: never)")
	fs.DurationVar(&c.RestartAt, "restart-at", c.RestartAt, "kill: when to restart it (0: never)")
	fs.IntVar(&c.Rounds, "rounds", c.Rounds, "rolling: rounds of graceful restarts")
	fs.BoolVar(&c.Idempotent, "idempotent", c.Idempotent, "mark Demo.Who idempotent, so its calls lost with the killed server are retried (Demo.Add never is)")
	fs.DurationVar(&c.Pace, "pace", c.Pace, "pause between one caller's calls")
	fs.DurationVar(&c.BackoffMax, "backoff-max", c.BackoffMax, "cap of the client's reconnect backoff (0: the default, 30 s)")
	fs.BoolVar(&c.Verbose, "v", c.Verbose, "log progress")
}

// Summary is the outcome of a run.
type Summary struct {
	Scenario          string
	Calls, OK, Failed int64
	Duplicates        int64         // executions of Demo.Add beyond the first of each call id
	PerServer         []int64       // successful calls per server, in start order
	Restarts          int           // rolling: graceful restarts done
	LeftRotation      time.Duration // kill: from the kill until the client stopped using the server
	Pickup            time.Duration // kill: from the restarted server being up until it served a call
	Lost              int64         // Demo.Add calls that succeeded but that no server recorded
	Phantoms          int64         // Demo.Add calls that failed as not executed but that a server ran

	added, refused []string // ids of Demo.Add calls that succeeded, and that failed as not executed
}

// String is the summary line: calls=N ok=N failed=N duplicates=N
// per-server=N,N,N, and restarts=N for a rolling run.
func (s Summary) String() string {
	per := make([]string, len(s.PerServer))
	for i, n := range s.PerServer {
		per[i] = fmt.Sprint(n)
	}
	line := fmt.Sprintf("calls=%d ok=%d failed=%d duplicates=%d per-server=%s",
		s.Calls, s.OK, s.Failed, s.Duplicates, strings.Join(per, ","))
	if s.Scenario == ScenarioRolling {
		line += fmt.Sprintf(" restarts=%d", s.Restarts)
	}
	return line
}

// Main is a demo command's main after flag parsing: it serves when this
// process is a server child, and otherwise runs cfg and prints the
// summary line on stdout (progress on stderr with -v).
func Main(cfg Config, d Discovery) {
	if ServeIfChild(d) {
		return
	}
	sum, err := Run(context.Background(), cfg, d, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster demo:", err)
		os.Exit(1)
	}
	fmt.Println(sum)
}

// child is one server process.
type child struct {
	name  string
	addr  string
	cmd   *exec.Cmd
	stdin io.Closer
}

// startChild starts a server process named name at addr ("127.0.0.1:0"
// for any port), recording its Demo.Add calls in ledger, and waits for it
// to listen and register.
func startChild(name, addr, ledger string, logw io.Writer) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+name+" "+addr, ledgerEnv+"="+ledger)
	cmd.Stderr = logw
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{name: name, cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(out).ReadString('\n')
	if a, ok := strings.CutPrefix(strings.TrimSpace(line), "listening "); ok && err == nil {
		c.addr = a
		return c, nil
	}
	c.kill()
	return nil, fmt.Errorf("server %s did not start (%q, %v)", name, line, err)
}

// kill ends the process at once (SIGKILL): no deregistration, no go-away.
func (c *child) kill() {
	_ = c.cmd.Process.Kill()
	_ = c.cmd.Wait()
}

// stop ends the process gracefully: SIGTERM, then its shutdown.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-done
	}
	c.stdin.Close()
}

// Run runs one demo: servers, callers, and the scenario's stops and
// restarts.
func Run(ctx context.Context, cfg Config, d Discovery, logw io.Writer) (Summary, error) {
	if cfg.Servers < 1 || cfg.Callers < 1 || cfg.Duration <= 0 {
		return Summary{}, errors.New("ferry: demo: servers, callers and duration must be positive")
	}
	switch {
	case cfg.Scenario == "":
		cfg.Scenario = ScenarioKill
	case cfg.Scenario == ScenarioRolling && (cfg.Rounds < 1 || cfg.Rounds > 100):
		return Summary{}, errors.New("ferry: demo: rounds must be 1 to 100")
	case cfg.Scenario != ScenarioKill && cfg.Scenario != ScenarioRolling:
		return Summary{}, fmt.Errorf("ferry: demo: unknown scenario %q (kill or rolling)", cfg.Scenario)
	}
	ledger, err := os.MkdirTemp("", "ferry-demo-ledger-")
	if err != nil {
		return Summary{}, err
	}
	defer os.RemoveAll(ledger)
	logf := func(format string, args ...any) {
		if cfg.Verbose {
			fmt.Fprintf(logw, "cluster: "+format+"\n", args...)
		}
	}
	children := make([]*child, cfg.Servers)
	defer func() {
		for _, c := range children {
			if c != nil {
				c.stop()
			}
		}
	}()
	start := func(name, addr string, logw io.Writer) (*child, error) { return startChild(name, addr, ledger, logw) }
	addrs := make([]string, cfg.Servers)
	index := map[string]int{}
	for i := range children {
		c, err := start(fmt.Sprintf("s%d", i+1), "127.0.0.1:0", logw)
		if err != nil {
			return Summary{}, err
		}
		children[i], addrs[i], index[c.name] = c, c.addr, i
	}
	logf("%d servers (%s) found through %s", cfg.Servers, strings.Join(addrs, ", "), d.Describe())

	r, err := d.Resolver(addrs)
	if err != nil {
		return Summary{}, err
	}
	opts := d.Options()
	if cfg.Idempotent {
		opts = append(opts, cluster.WithIdempotent("Demo.Who"))
	}
	if cfg.BackoffMax > 0 {
		b := cluster.DefaultBackoff()
		b.Base = min(b.Base, cfg.BackoffMax)
		b.Max = cfg.BackoffMax
		opts = append(opts, cluster.WithBackoff(b))
	}
	cl, err := cluster.New(r, opts...)
	if err != nil {
		return Summary{}, err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = cl.WaitReady(rctx, cfg.Servers)
	cancel()
	if err != nil {
		return Summary{}, fmt.Errorf("the servers did not become ready: %w", err)
	}
	sum, err := drive(ctx, cfg, cl, children, index, start, logf)
	if err != nil {
		return sum, err
	}
	sum.Scenario = cfg.Scenario
	if err := sum.audit(ledger); err != nil {
		return sum, err
	}
	if sum.Lost > 0 || sum.Phantoms > 0 {
		logf("ledger: %d successful Demo.Add calls unrecorded, %d refused ones recorded", sum.Lost, sum.Phantoms)
	}
	return sum, nil
}
