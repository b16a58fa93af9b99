package main

import (
	"os"
	"path/filepath"
	"strings"
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
		"sumdb/checksum.example/lookup/x",
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

// TestConsistencyWantsOneGoDirective: a module or go.work whose go
// directive differs from the root's fails the check.
func TestConsistencyWantsOneGoDirective(t *testing.T) {
	write := func(dir, name, text string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo := func(rootGo, otelGo, workGo string) string {
		r := t.TempDir()
		write(r, "go.mod", "module "+rootPath+"\n\ngo "+rootGo+"\n")
		write(filepath.Join(r, "otel"), "go.mod", "module "+rootPath+"/otel\n\ngo "+otelGo+"\n\nrequire "+rootPath+" v0.1.0\n")
		write(r, "go.work", "go "+workGo+"\n\nuse (\n\t.\n\t./otel\n)\n\nreplace "+rootPath+" v0.1.0 => ./\n")
		return r
	}
	for _, tc := range []struct {
		root, otel, work string
		bad              string
	}{
		{"1.26.0", "1.26.0", "1.26.0", ""},
		{"1.24", "1.26.0", "1.26.0", "otel/go.mod says go 1.26.0, the root go 1.24"},
		{"1.26.0", "1.26.0", "1.25.0", "go.work says go 1.25.0, the root go 1.26.0"},
	} {
		r := repo(tc.root, tc.otel, tc.work)
		mods, err := findModules(r)
		if err != nil {
			t.Fatal(err)
		}
		err = checkConsistency(r, mods, "v0.1.0")
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%+v: %v", tc, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%+v: got %v, want an error saying %q", tc, err, tc.bad)
		}
	}
}
