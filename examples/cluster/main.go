// Command cluster demonstrates Ferry's scale-out client: it starts three
// servers as child processes, drives 64 concurrent callers through one
// cluster.Client for 30 s, kills the first server with SIGKILL at 10 s and
// restarts it at the same address at 20 s, and ends with one line:
//
//	calls=N ok=N failed=N per-server=N,N,N
//
// The servers are found through a static list. The same demo with the
// servers registered in etcd lives in the etcd module, which this one must
// not depend on: discovery/etcd/examples/cluster.
//
//	go run ./examples/cluster                      # the full 30 s run
//	go run ./examples/cluster -v -duration 6s -kill-at 2s -restart-at 4s
//	go run ./examples/cluster -idempotent=false    # lost calls are not retried
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
	cfg := demo.DefaultConfig()
	cfg.BackoffMax = time.Second
	cfg.RegisterFlags(flag.CommandLine)
	flag.Parse()
	demo.Main(cfg, demo.Static{})
}
