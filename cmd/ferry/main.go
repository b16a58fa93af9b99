package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"runtime/debug"
	"syscall"

	"golang.org/x/term"

	"github.com/ferryrpc/ferry"
)

// Exit statuses; an error returned by a call exits with 10 + its code.
const (
	exitOK         = 0
	exitFail       = 1 // usage, bad input, or no connection
	exitNotServing = 2 // health: the server answered, but not SERVING
	exitCodeBase   = 10
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C (or SIGTERM) ends ctx, and the command winds down
	// (bench waits for its calls in flight); a second one ends the process
	// at once, as it would without this handler.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, tty: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

// isTerminal tells whether f is a terminal (golang.org/x/term decides: a
// file, a pipe or /dev/null is not one).
func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// env is where a command writes; tests pass buffers.
type env struct {
	stdin          io.Reader // params for @-, and the messages of client-streaming and bidi calls; nil: none
	stdout, stderr io.Writer
	tty            bool // stderr is a terminal: show progress bars
}

// printf writes a line to stderr.
// printf prints a message to standard error, through printable: its
// arguments may hold what a server sent.
func (e *env) printf(format string, args ...any) {
	fmt.Fprintln(e.stderr, printable(fmt.Sprintf(format, args...)))
}

type command struct {
	run     func(ctx context.Context, e *env, args []string) int
	summary string
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"call":     {runCall, "call a method: ferry call ADDR Service.Method '<json params>'"},
		"list":     {runList, "list the services and methods of a server: ferry list ADDR"},
		"describe": {runDescribe, "show a method's argument and reply shapes: ferry describe ADDR Service.Method"},
		"bench":    {runBench, "load-test a method: ferry bench ADDR Service.Method '<json>' -c 64 -n 100000"},
		"health":   {runHealth, "check a server's health service: ferry health ADDR [service]"},
		"version":  {runVersion, "print the ferry CLI's version"},
	}
}

// run executes one command line and returns the process's exit status.
func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		usage(e.stderr)
		if len(args) == 0 {
			return exitFail
		}
		return exitOK
	}
	cmd, ok := commands[args[0]]
	if !ok {
		e.printf("ferry: unknown command %q", args[0])
		usage(e.stderr)
		return exitFail
	}
	return cmd.run(ctx, e, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: ferry COMMAND [flags] ARGS

Commands:
`)
	for _, name := range []string{"call", "list", "describe", "bench", "health", "version"} {
		fmt.Fprintf(w, "  %-9s %s\n", name, commands[name].summary)
	}
	fmt.Fprint(w, `
Flags may come before or after the arguments; "ferry COMMAND -h" lists them.
Exit status: 0 success, 1 usage or connection error, 2 health not SERVING,
10+code when a call fails with a Ferry error code (e.g. 13 invalid_argument,
14 deadline_exceeded, 22 unimplemented, 24 unavailable).
`)
}

func runVersion(_ context.Context, e *env, _ []string) int {
	v := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		v = bi.Main.Version
	}
	fmt.Fprintln(e.stdout, "ferry", v)
	return exitOK
}

// negNumber matches an argument that is a negative JSON number, which is
// a positional argument even though it starts with "-".
var negNumber = regexp.MustCompile(`^-[0-9]`)

// parseFlags parses fs's flags wherever they appear among args and
// returns the positional arguments. "--" ends the flags.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		cut := len(args)
		for i, a := range args {
			if a == "--" || negNumber.MatchString(a) {
				cut = i
				break
			}
		}
		if err := fs.Parse(args[:cut]); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) > 0 { // fs stopped at a positional argument
			pos = append(pos, rest[0])
			args = append(rest[1:len(rest):len(rest)], args[cut:]...)
			continue
		}
		switch {
		case cut == len(args):
			return pos, nil
		case args[cut] == "--":
			return append(pos, args[cut+1:]...), nil
		}
		pos = append(pos, args[cut])
		args = args[cut+1:]
	}
	return pos, nil
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(e *env, name, args string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: ferry %s [flags] %s\n\nFlags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// usageError reports a usage problem and returns the exit status for it.
func usageError(e *env, fs *flag.FlagSet, format string, args ...any) int {
	e.printf("ferry %s: "+format, append([]any{fs.Name()}, args...)...)
	fs.Usage()
	return exitFail
}

// callExit reports a failed call and returns 10 + its code.
func callExit(e *env, cf *connFlags, err error) int {
	code := ferry.CodeOf(err)
	e.printf("%v", err)
	if code == ferry.CodeUnavailable && !cf.plain {
		e.printf("ferry: hint: %s", plainHint)
	}
	var fe *ferry.Error
	if errors.As(err, &fe) {
		for k, v := range fe.Details {
			e.printf("  %s: %s", k, v)
		}
	}
	return exitCodeBase + int(code)
}
