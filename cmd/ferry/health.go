package main

import (
	"context"
	"fmt"

	"github.com/ferryrpc/ferry/codec"
)

// healthMethod and its wire contract, shared with Ferry's health package:
// params [{"service": NAME}] ("" for the server as a whole), reply
// {"status": "SERVING" | "NOT_SERVING" | "UNKNOWN"}.
const healthMethod = "Health.Check"

type healthArgs struct {
	Service string `msgpack:"service"`
}

type healthReply struct {
	Status string `msgpack:"status"`
}

func runHealth(ctx context.Context, e *env, args []string) int {
	c, cf, pos, code := connect(ctx, e, "health", "ADDR [service]", args, 2, nil)
	if c == nil {
		return code
	}
	defer c.Close()
	var svc string
	if len(pos) == 2 {
		svc = pos[1]
	}
	params, err := codec.Marshal([]any{healthArgs{Service: svc}})
	if err != nil {
		e.printf("ferry: %v", err)
		return exitFail
	}
	cctx, cancel := cf.callContext(ctx)
	defer cancel()
	res, err := c.call(cctx, healthMethod, params)
	if err != nil {
		return callExit(e, cf, err)
	}
	var r healthReply
	if err := codec.Unmarshal(res, &r); err != nil || r.Status == "" {
		e.printf("ferry: %s replied without a status: %v", healthMethod, err)
		return exitFail
	}
	fmt.Fprintln(e.stdout, printable(r.Status))
	if r.Status != "SERVING" {
		return exitNotServing
	}
	return exitOK
}
