// Package demo is the scale-out demo behind examples/cluster (a static
// list of servers) and discovery/etcd/examples/cluster (servers registered
// in etcd): one command starts servers as child processes of its own
// binary, drives concurrent callers through a cluster.Client, kills one
// server with SIGKILL and restarts it, and ends with one summary line:
//
//	calls=N ok=N failed=N per-server=N,N,N
//
// A Discovery plugs in the registry: how a server registers, and the
// resolver the client watches.
package demo
