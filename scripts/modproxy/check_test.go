package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDepsProxyLeavesOutFerry: the proxy of a module cache that the
// consumer's second run uses holds every module but Ferry's, so that
// Ferry's can only come from the candidate proxy.
func TestDepsProxyLeavesOutFerry(t *testing.T) {
	cache := t.TempDir()
	dl := filepath.Join(cache, "cache", "download")
	for _, p := range []string{
		"github.com/ferryrpc/ferry/@v/list",
		"github.com/ferryrpc/ferry/otel/@v/list",
		"github.com/ferryrpc/other/@v/list",
		"github.com/hashicorp/yamux/@v/list",
		"go.etcd.io/etcd/client/v3/@v/list",
		"sumdb/sum.golang.org/lookup/x",
	} {
		f := filepath.Join(dl, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	deps := filepath.Join(t.TempDir(), "deps")
	if err := depsProxy(cache, deps); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"github.com/ferryrpc/other/@v/list", "github.com/hashicorp/yamux/@v/list", "go.etcd.io/etcd/client/v3/@v/list"} {
		b, err := os.ReadFile(filepath.Join(deps, filepath.FromSlash(p)))
		if err != nil || string(b) != p {
			t.Errorf("%s: got %q, %v; want the cache's file", p, b, err)
		}
	}
	for _, p := range []string{"github.com/ferryrpc/ferry", "sumdb"} {
		if _, err := os.Stat(filepath.Join(deps, filepath.FromSlash(p))); !os.IsNotExist(err) {
			t.Errorf("%s is in the proxy (%v); want it left out", p, err)
		}
	}
}
