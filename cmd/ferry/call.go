package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
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
	fs := newFlagSet(e, "call", "ADDR Service.Method ['<json params>']")
	var cf connFlags
	var of outputFlags
	cf.register(fs)
	of.register(fs)
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitFail
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError(e, fs, "want ADDR, METHOD and optionally the JSON params, got %d arguments", len(pos))
	}
	jo, err := of.options()
	if err != nil {
		return usageError(e, fs, "%v", err)
	}
	var js string
	if len(pos) == 3 {
		js = pos[2]
	}
	params, err := paramsFromJSON(js)
	if err != nil {
		e.printf("%v", err)
		return exitFail
	}
	cf.warnPlain(e)
	c, err := cf.dial(ctx, pos[0])
	if err != nil {
		e.printf("ferry: connect to %s: %v", pos[0], err)
		return exitFail
	}
	defer c.Close()
	cctx, cancel := cf.callContext(ctx)
	defer cancel()
	res, err := c.call(cctx, pos[1], params)
	if err != nil {
		return callExit(e, &cf, err)
	}
	out, err := toJSON(res, jo)
	if err != nil {
		e.printf("ferry: the result is not valid MessagePack: %v", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	return exitOK
}
