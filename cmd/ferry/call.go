package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/introspect"
)

// outputFlags say how results print.
type outputFlags struct {
	bin     string
	compact bool
}

func (of *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&of.bin, "bin", "base64", "how MessagePack bin values print: base64, string or hex")
	fs.BoolVar(&of.compact, "compact", false, "print JSON on one line")
}

func (of *outputFlags) options() (jsonOptions, error) {
	switch of.bin {
	case "base64", "string", "hex":
	default:
		return jsonOptions{}, fmt.Errorf("-bin %q: want base64, string or hex", of.bin)
	}
	return jsonOptions{bin: of.bin, indent: !of.compact}, nil
}

func runCall(ctx context.Context, e *env, args []string) int {
	fs := newFlagSet(e, "call", "ADDR Service.Method ['<json params>' | @FILE | @-]")
	var cf connFlags
	var of outputFlags
	var noCheck bool
	cf.register(fs)
	of.register(fs)
	fs.BoolVar(&noCheck, "nocheck", false, "send the params, and the stream messages read from standard input, without first\n"+
		"checking them against the method's description "+
		"(the check runs when the server offers introspection)")
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitFail
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError(e, fs, "want ADDR, METHOD and optionally the JSON params, got %d arguments", len(pos))
	}
	if err := cf.check(); err != nil {
		return usageError(e, fs, "%v", err)
	}
	jo, err := of.options()
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	var js string
	if len(pos) == 3 {
		if js, err = readParamsArg(e, pos[2]); err != nil {
			e.printf("%v", err)
			return exitFail
		}
	}
	params, err := paramsFromJSON(js)
	if err != nil {
		e.printf("%v", err)
		return exitFail
	}
	c, err := cf.dial(ctx, pos[0])
	if err != nil {
		e.printf("ferry: connect to %s: %v", pos[0], err)
		return exitFail
	}
	defer c.Close()
	cf.warnPlain(e, c)
	var desc *introspect.Description
	if !noCheck || !cf.plain {
		// One Introspect.Describe serves the check and the stream kind. A
		// server that does not answer it in time would not answer the call
		// either: stop here rather than wait out -timeout a second time.
		d, err := describe(ctx, &cf, c, pos[1])
		if err != nil && (ferry.CodeOf(err) == ferry.CodeDeadlineExceeded || ctx.Err() != nil) {
			return callExit(e, &cf, err)
		}
		desc = d
	}
	sc := streamCall{method: pos[1], params: params, haveParams: len(pos) == 3, jo: jo}
	if !noCheck {
		if code, bad := checkCall(e, pos[1], js, desc); bad {
			return code
		}
		sc.check = desc // and each message read from standard input
	}
	if kind := streamKind(desc); kind != "" {
		sc.kind = kind
		return runStreamCall(ctx, e, &cf, c, sc)
	}
	cctx, cancel := cf.callContext(ctx)
	defer cancel()
	res, err := c.call(cctx, pos[1], params)
	if kind := kindFromRefusal(err); kind != "" {
		sc.kind = kind
		return runStreamCall(ctx, e, &cf, c, sc)
	}
	if err != nil {
		return callExit(e, &cf, err)
	}
	out, err := toJSON(res, jo)
	if errors.Is(err, errJSONSize) {
		e.printf("ferry: the result does not print: %v", err)
		return exitFail
	} else if err != nil {
		e.printf("ferry: the result is not valid MessagePack: %v", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	return exitOK
}

// checkCall checks the params against the method's description d, when
// the server offered one, and reports what does not fit as the server
// would refuse it: with invalid_argument's exit status.
func checkCall(e *env, method, js string, d *introspect.Description) (int, bool) {
	if d == nil {
		return 0, false
	}
	errs := checkParams(js, d)
	if len(errs) == 0 {
		return 0, false
	}
	for _, msg := range errs {
		e.printf("ferry: %s: %s", method, msg)
	}
	e.printf(checkHint, "params", method)
	return exitCodeBase + int(ferry.CodeInvalidArgument), true
}

// checkHint follows what a check refused: what was checked, the method.
const checkHint = "ferry: hint: the %s were checked against the server's description (ferry describe ADDR %s); -nocheck sends them anyway"

// maxParamsFile bounds the params read from a file or standard input.
const maxParamsFile = maxMessage

// readParamsArg returns the JSON params of the argument: the argument
// itself, or with @FILE the file's contents and with @- standard input's.
// JSON never starts with "@".
func readParamsArg(e *env, arg string) (string, error) {
	name, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return arg, nil
	}
	var r io.Reader
	switch {
	case name == "-":
		if e.stdin == nil {
			return "", errors.New("ferry: @-: no standard input")
		}
		r = e.stdin
	case name == "":
		return "", errors.New("ferry: @ needs a file name, or - for standard input")
	default:
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("ferry: params: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxParamsFile+1))
	if err != nil {
		return "", fmt.Errorf("ferry: reading params from %s: %w", arg, err)
	}
	if len(b) > maxParamsFile {
		return "", fmt.Errorf("ferry: params from %s exceed %d MiB", arg, maxParamsFile>>20)
	}
	return string(b), nil
}
