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

// Config is what a run does.
type Config struct {
	Servers    int           // servers started
	Callers    int           // concurrent callers
	Duration   time.Duration // the whole run
	KillAt     time.Duration // when the first server is killed (SIGKILL); 0: never
	RestartAt  time.Duration // when it starts again; 0: never
	Idempotent bool          // mark the method idempotent (retried after a lost connection)
	Pace       time.Duration // pause between one caller's calls
	BackoffMax time.Duration // cap of the reconnect backoff; 0: the default (30 s)
	Verbose    bool          // log progress to the log writer
}

// DefaultConfig is the demo the issue asks for: 3 servers, 64 callers,
// 30 s, a kill at 10 s and a restart at 20 s.
func DefaultConfig() Config {
	return Config{Servers: 3, Callers: 64, Duration: 30 * time.Second, KillAt: 10 * time.Second,
		RestartAt: 20 * time.Second, Idempotent: true, Pace: time.Millisecond}
}

// RegisterFlags binds c's fields to flags of fs.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.IntVar(&c.Servers, "servers", c.Servers, "servers to start")
	fs.IntVar(&c.Callers, "callers", c.Callers, "concurrent callers")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the run")
	fs.DurationVar(&c.KillAt, "kill-at", c.KillAt, "when to kill the first server with SIGKILL (0: never)")
	fs.DurationVar(&c.RestartAt, "restart-at", c.RestartAt, "when to restart it (0: never)")
	fs.BoolVar(&c.Idempotent, "idempotent", c.Idempotent, "mark the method idempotent, so calls lost with the killed server are retried")
	fs.DurationVar(&c.Pace, "pace", c.Pace, "pause between one caller's calls")
	fs.DurationVar(&c.BackoffMax, "backoff-max", c.BackoffMax, "cap of the client's reconnect backoff (0: the default, 30 s)")
	fs.BoolVar(&c.Verbose, "v", c.Verbose, "log progress")
}

// Summary is the outcome of a run.
type Summary struct {
	Calls, OK, Failed int64
	PerServer         []int64       // successful calls per server, in start order
	LeftRotation      time.Duration // from the kill until the client stopped using the server
	Pickup            time.Duration // from the restarted server being up until it served a call
}

// String is the summary line: calls=N ok=N failed=N per-server=N,N,N.
func (s Summary) String() string {
	per := make([]string, len(s.PerServer))
	for i, n := range s.PerServer {
		per[i] = fmt.Sprint(n)
	}
	return fmt.Sprintf("calls=%d ok=%d failed=%d per-server=%s", s.Calls, s.OK, s.Failed, strings.Join(per, ","))
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
// for any port) and waits for it to listen and register.
func startChild(name, addr string, logw io.Writer) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"="+name+" "+addr)
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

// Run runs one demo: servers, callers, a kill and a restart.
func Run(ctx context.Context, cfg Config, d Discovery, logw io.Writer) (Summary, error) {
	if cfg.Servers < 1 || cfg.Callers < 1 || cfg.Duration <= 0 {
		return Summary{}, errors.New("ferry: demo: servers, callers and duration must be positive")
	}
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
	addrs := make([]string, cfg.Servers)
	index := map[string]int{}
	for i := range children {
		c, err := startChild(fmt.Sprintf("s%d", i+1), "127.0.0.1:0", logw)
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
		b.Max = max(cfg.BackoffMax, b.Base)
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
	return drive(ctx, cfg, cl, children, index, logf)
}
