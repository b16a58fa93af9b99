// Command cluster demonstrates Ferry's scale-out client: it starts three
// servers as child processes and drives 64 concurrent callers through one
// cluster.Client. Half of the calls are Demo.Who (idempotent, read-only);
// the other half are Demo.Add, which is not idempotent: each call carries
// a unique id and the server that runs it records the id (a side effect
// that must happen once). At the end the demo reads the servers' records
// and prints one line.
//
// The default scenario, kill, runs 30 s, kills the first server with
// SIGKILL at 10 s and restarts it at the same address at 20 s:
//
//	calls=N ok=N failed=N duplicates=N per-server=N,N,N
//
// Demo.Add calls that were running on the killed server fail (their
// outcome is unknown and they are not idempotent, so they are not
// retried); none runs twice.
//
// The rolling scenario is a rolling deploy: each server in turn is stopped
// gracefully (SIGTERM: deregister, go-away, drain) and started again at
// the same address, three full rounds spread over the 30 s, each step
// waiting for the restarted server to serve before the next:
//
//	calls=N ok=N failed=N duplicates=N per-server=N,N,N restarts=9
//
// Its target is failed=0 duplicates=0: the cluster client sends no new
// call to a server that announced its go-away, lets the calls in flight
// finish there, and retries elsewhere the calls the server refused as not
// executed, idempotent or not.
//
// The servers are found through a static list. The same demo with the
// servers registered in etcd lives in the etcd module, which this one must
// not depend on: discovery/etcd/examples/cluster.
//
//	go run ./examples/cluster                      # the kill scenario, 30 s
//	go run ./examples/cluster -scenario rolling    # the rolling deploy, 30 s
//	go run ./examples/cluster -v -duration 6s -kill-at 2s -restart-at 4s
//	go run ./examples/cluster -idempotent=false    # lost Demo.Who calls are not retried either
//
// A list cannot tell the client that a server is back, so its reconnect
// backoff decides when it is used again; the demo caps that backoff at
// 1 s (-backoff-max; the library's default cap is 30 s). With etcd, the
// server's new registration says so at once.
package main

import (
	"flag"
	"time"

	"github.com/ferryrpc/ferry/examples/cluster/demo"
)

func main() {
	cfg := defineFlags(flag.CommandLine)
	flag.Parse()
	demo.Main(*cfg, demo.Static{})
}

// defineFlags defines the demo's flags on fs, with the demo's defaults
// (a reconnect backoff capped at 1 s), and returns what they set.
func defineFlags(fs *flag.FlagSet) *demo.Config {
	cfg := demo.DefaultConfig()
	cfg.BackoffMax = time.Second
	cfg.RegisterFlags(fs)
	return &cfg
}
