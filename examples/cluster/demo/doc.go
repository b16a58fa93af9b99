// Package demo is the scale-out demo behind examples/cluster (a static
// list of servers) and discovery/etcd/examples/cluster (servers registered
// in etcd): one command starts servers as child processes of its own
// binary, drives concurrent callers through a cluster.Client (half of
// the calls are not idempotent: each carries a unique id that the server
// running it records, so that the demo counts duplicates), and plays a
// scenario: kill (one server killed with SIGKILL and restarted) or
// rolling (each server in turn stopped gracefully and restarted, Rounds
// times). It ends with one summary line:
//
//	calls=N ok=N failed=N duplicates=N per-server=N,N,N            # kill
//	calls=N ok=N failed=N duplicates=N per-server=N,N,N restarts=9  # rolling
//
// A Discovery plugs in the registry: how a server registers, and the
// resolver the client watches.
package demo
