// Command cluster is Ferry's scale-out demo with etcd: it starts three
// servers as child processes, each registering itself in etcd under a
// lease, and drives 64 concurrent callers through one cluster.Client that
// watches etcd; half of the calls are not idempotent and carry unique ids
// that the servers record, so that the demo counts calls that ran twice.
//
// The default scenario, kill, kills the first server with SIGKILL at 10 s
// (its key stays until its lease expires) and restarts it at 20 s (it
// registers again as a new instance, and the client connects to it at
// once), and ends with one line:
//
//	calls=N ok=N failed=N duplicates=N per-server=N,N,N
//
// The rolling scenario (-scenario rolling) stops each server in turn
// gracefully, three full rounds: the server deregisters (the client stops
// sending it calls), sends its go-away and drains, and its new process
// registers again at the same address. It ends with
//
//	calls=N ok=N failed=N duplicates=N per-server=N,N,N restarts=9
//
// and its target is failed=0 duplicates=0.
//
// Without an etcd endpoint it falls back to a static list, and with -v
// says so ("found through a static list").
//
//	cd discovery/etcd && bash ../../.ci/etcd.sh go run ./examples/cluster -v
//	cd discovery/etcd && bash ../../.ci/etcd.sh go run ./examples/cluster -scenario rolling
//	go run ./examples/cluster -etcd http://127.0.0.1:23790 -duration 8s -kill-at 2s -restart-at 5s
//
// The demo itself (flags, servers, callers) is shared with the static-only
// examples/cluster of the core module: package examples/cluster/demo.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/discovery/etcd"
	"github.com/ferryrpc/ferry/examples/cluster/demo"
	"github.com/ferryrpc/ferry/resolver"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// prefixEnv hands the run's key prefix to the server processes, so that a
// run never sees the keys of an earlier one.
const prefixEnv = "FERRY_DEMO_ETCD_PREFIX"

// etcdDiscovery registers the demo's servers in etcd.
type etcdDiscovery struct {
	cli       *clientv3.Client
	endpoints string
	prefix    string
	ttl       int64
}

func (d *etcdDiscovery) Describe() string {
	return fmt.Sprintf("etcd at %s (keys under %s, lease TTL %d s)", d.endpoints, d.prefix, d.ttl)
}

func (d *etcdDiscovery) Register(ctx context.Context, name, addr string) (func(context.Context) error, error) {
	reg, err := etcd.Register(ctx, d.cli, "demo", addr, etcd.WithPrefix(d.prefix), etcd.WithTTL(d.ttl),
		etcd.WithAttrs(map[string]string{"name": name}))
	if err != nil {
		return nil, err
	}
	return reg.Close, nil
}

func (d *etcdDiscovery) Resolver([]string) (resolver.Resolver, error) {
	return etcd.NewResolver(d.cli, "demo", etcd.WithPrefix(d.prefix))
}

func (d *etcdDiscovery) Options() []cluster.Option { return nil }

// newDiscovery connects to etcd, or returns nil without endpoints.
func newDiscovery(endpoints string, ttl int64) (*etcdDiscovery, error) {
	if endpoints == "" {
		return nil, nil
	}
	prefix := os.Getenv(prefixEnv)
	if prefix == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		prefix = "/ferry-demo/" + hex.EncodeToString(b[:]) + "/"
		os.Setenv(prefixEnv, prefix) // inherited by the servers
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   strings.Split(endpoints, ","),
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, err
	}
	return &etcdDiscovery{cli: cli, endpoints: endpoints, prefix: prefix, ttl: ttl}, nil
}

func main() {
	cfg := demo.DefaultConfig()
	cfg.RegisterFlags(flag.CommandLine)
	endpoints := flag.String("etcd", os.Getenv("FERRY_ETCD_ENDPOINTS"), "etcd endpoints, comma-separated (default $FERRY_ETCD_ENDPOINTS); empty: a static list")
	ttl := flag.Int64("ttl", 10, "lease TTL of the servers' registrations, in seconds")
	flag.Parse()
	d, err := newDiscovery(*endpoints, *ttl)
	if err != nil {
		log.Fatal(err)
	}
	if d == nil {
		// A list cannot say that a server is back: cap the backoff (see
		// examples/cluster).
		cfg.BackoffMax = time.Second
		demo.Main(cfg, demo.Static{})
		return
	}
	defer d.cli.Close()
	demo.Main(cfg, d)
}
