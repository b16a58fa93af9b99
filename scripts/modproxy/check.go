package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

//go:embed consumer/main.go.txt
var consumerMain []byte

// checkConsistency checks that every module and go.work state the root's
// go directive, that every nested module requires the root at version,
// and that go.work replaces exactly that version by the root.
func checkConsistency(repo string, mods []mod, version string) error {
	goVersion := func(f *modfile.Go) string {
		if f == nil {
			return "(none)"
		}
		return f.Version
	}
	want := goVersion(mods[0].file.Go)
	for _, m := range mods[1:] {
		if got := goVersion(m.file.Go); got != want {
			return fmt.Errorf("%s/go.mod says go %s, the root go %s: every module states the same go directive (RELEASING.md)", m.dir, got, want)
		}
	}
	for _, m := range mods[1:] {
		for _, r := range m.file.Require {
			if r.Mod.Path == rootPath && r.Mod.Version != version {
				return fmt.Errorf("%s requires %s %s, not %s", m.dir, rootPath, r.Mod.Version, version)
			}
		}
		for _, r := range m.file.Replace {
			return fmt.Errorf("%s/go.mod replaces %s: nested modules must build without replace (go.work maps the root)", m.dir, r.Old.Path)
		}
	}
	p := filepath.Join(repo, "go.work")
	raw, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	wf, err := modfile.ParseWork(p, raw, nil)
	if err != nil {
		return err
	}
	if got := goVersion(wf.Go); got != want {
		return fmt.Errorf("go.work says go %s, the root go %s: every module states the same go directive (RELEASING.md)", got, want)
	}
	for _, r := range wf.Replace {
		if r.Old.Path == rootPath && r.Old.Version == version && filepath.Clean(r.New.Path) == "." {
			return nil
		}
	}
	return fmt.Errorf("go.work does not replace %s %s by ./ (RELEASING.md)", rootPath, version)
}

// netProxies returns the proxies of the first consumer run: the file
// proxy first, then the local module cache's downloads and the proxies the
// user configured ("go env GOPROXY"), which supply the modules other than
// Ferry's.
func netProxies(proxyDir string) ([]string, error) {
	out, err := exec.Command("go", "env", "GOPROXY", "GOMODCACHE").Output()
	if err != nil {
		return nil, fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("go env: unexpected output %q", out)
	}
	proxies := []string{fileURL(proxyDir)}
	if lines[1] != "" {
		proxies = append(proxies, fileURL(filepath.Join(lines[1], "cache", "download")))
	}
	if lines[0] != "" && lines[0] != "off" {
		proxies = append(proxies, lines[0])
	}
	return proxies, nil
}

// fileURL is the GOPROXY entry of a directory.
func fileURL(dir string) string { return "file://" + filepath.ToSlash(dir) }

// goEnv returns the environment of go commands that get modules from
// proxies into the module cache at cache (a fresh one, so that no earlier
// build of the candidate version is reused), with no workspace, plus
// extra settings.
func goEnv(proxies []string, cache string, extra ...string) []string {
	env := append(os.Environ(),
		"GOWORK=off",
		"GOPROXY="+strings.Join(proxies, ","),
		"GOMODCACHE="+cache,
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
	)
	return append(env, extra...)
}

// depsProxy makes, in dir, a GOPROXY=file:// proxy of the modules in the
// module cache at cache, except Ferry's own (their path is under
// rootPath's): links to the cache's downloads, which have the proxy
// layout.
func depsProxy(cache, dir string) error {
	src := filepath.Join(cache, "cache", "download")
	epath, err := module.EscapePath(rootPath)
	if err != nil {
		return err
	}
	parts := strings.Split(epath, "/")
	for i := range parts {
		from := filepath.Join(src, filepath.Join(parts[:i]...))
		to := filepath.Join(dir, filepath.Join(parts[:i]...))
		if err := os.MkdirAll(to, 0o755); err != nil {
			return err
		}
		entries, err := os.ReadDir(from)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		} else if err != nil {
			return err
		}
		for _, e := range entries {
			if e.Name() == parts[i] || (i == 0 && e.Name() == "sumdb") {
				continue
			}
			if err := os.Symlink(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// goCmd runs a go command in dir with env, echoing it and its output to
// w.
func goCmd(w io.Writer, env []string, dir string, args ...string) ([]byte, error) {
	fmt.Fprintf(w, "$ go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	w.Write(out)
	if err != nil {
		return out, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// checkConsumer gets the three modules into an empty module for a program
// that uses them and, if build, builds and runs it, writing the commands
// and their output to w; it returns the consumer's go.sum.
func checkConsumer(w io.Writer, env []string, version string, build bool) ([]byte, error) {
	dir, err := os.MkdirTemp("", "modproxy-consumer-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	fmt.Fprintln(w, "consumer: an empty module in", dir)
	if _, err := goCmd(w, env, dir, "mod", "init", "example.com/consumer"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), consumerMain, 0o644); err != nil {
		return nil, err
	}
	if _, err := goCmd(w, env, dir, "get", rootPath+"@"+version, rootPath+"/otel@"+version, rootPath+"/discovery/etcd@"+version); err != nil {
		return nil, err
	}
	if _, err := goCmd(w, env, dir, "mod", "tidy"); err != nil {
		return nil, err
	}
	if !build {
		return os.ReadFile(filepath.Join(dir, "go.sum"))
	}
	if _, err := goCmd(w, env, dir, "build", "-o", "consumer", "."); err != nil {
		return nil, err
	}
	modText, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return nil, err
	}
	if bytes.Contains(modText, []byte("replace")) {
		return nil, errors.New("the consumer's go.mod has a replace directive")
	}
	fmt.Fprintf(w, "consumer: go.mod\n%s", modText)
	cmd := exec.Command(filepath.Join(dir, "consumer"))
	out, err := cmd.CombinedOutput()
	w.Write(out)
	if err != nil {
		return nil, fmt.Errorf("running the consumer: %w", err)
	}
	return os.ReadFile(filepath.Join(dir, "go.sum"))
}

// checkTidy copies nested module m out of the repository, tidies it
// against the proxy and compares: go.mod must not change, nor go.sum but
// for the root module's lines.
func checkTidy(env []string, repo string, m mod, fix bool) error {
	dir, err := os.MkdirTemp("", "modproxy-tidy-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(repo, filepath.FromSlash(m.dir))
	if err := copyModule(src, dir); err != nil {
		return err
	}
	if _, err := goCmd(os.Stdout, env, dir, "mod", "tidy"); err != nil {
		return err
	}
	for _, name := range []string{"go.mod", "go.sum"} {
		want, _ := os.ReadFile(filepath.Join(src, name))
		got, _ := os.ReadFile(filepath.Join(dir, name))
		if name == "go.sum" {
			want, got = dropRoot(want), dropRoot(got)
		}
		if fix && !bytes.Equal(want, got) {
			fmt.Printf("fix: %s/%s tidied\n", m.dir, name)
			if err := os.WriteFile(filepath.Join(src, name), got, 0o644); err != nil {
				return err
			}
			continue
		}
		if !bytes.Equal(want, got) {
			return fmt.Errorf("%s/%s is not tidy: run go run . -check -fix in scripts/modproxy (RELEASING.md); tidy gives:\n%s", m.dir, name, got)
		}
	}
	return nil
}

// dropRoot removes the root module's lines from a go.sum.
func dropRoot(sum []byte) []byte {
	var out []byte
	for _, line := range bytes.SplitAfter(sum, []byte("\n")) {
		if !bytes.HasPrefix(line, []byte(rootPath+" ")) {
			out = append(out, line...)
		}
	}
	return out
}

// copyModule copies the module in src, without nested modules, to dst.
func copyModule(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			if rel != "." {
				if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
			}
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
}
