package main

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

//go:embed consumer/main.go.txt
var consumerMain []byte

// checkConsistency checks that every nested module requires the root at
// version and that go.work replaces exactly that version by the root.
func checkConsistency(repo string, mods []mod, version string) error {
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
	for _, r := range wf.Replace {
		if r.Old.Path == rootPath && r.Old.Version == version && filepath.Clean(r.New.Path) == "." {
			return nil
		}
	}
	return fmt.Errorf("go.work does not replace %s %s by ./ (RELEASING.md)", rootPath, version)
}

// goEnv returns the environment of the go commands the checks run: the
// file proxy first, then the local module cache's downloads and the
// proxies the user configured; a fresh module cache so that no earlier
// build of the candidate version is reused; no workspace; no checksum
// database for Ferry's own modules, which it cannot know before they are
// published.
func goEnv(proxyDir string) ([]string, func(), error) {
	out, err := exec.Command("go", "env", "GOPROXY", "GOMODCACHE").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("go env: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return nil, nil, fmt.Errorf("go env: unexpected output %q", out)
	}
	proxies := []string{"file://" + filepath.ToSlash(proxyDir)}
	if lines[1] != "" {
		proxies = append(proxies, "file://"+filepath.ToSlash(filepath.Join(lines[1], "cache", "download")))
	}
	if lines[0] != "" && lines[0] != "off" {
		proxies = append(proxies, lines[0])
	}
	cache, err := os.MkdirTemp("", "modproxy-cache-")
	if err != nil {
		return nil, nil, err
	}
	env := append(os.Environ(),
		"GOWORK=off",
		"GOPROXY="+strings.Join(proxies, ","),
		"GOMODCACHE="+cache,
		"GONOSUMDB="+rootPath,
		"GOFLAGS=-mod=mod -modcacherw",
		"GOTOOLCHAIN=local",
	)
	return env, func() { os.RemoveAll(cache) }, nil
}

// goCmd runs a go command in dir with env, echoing it and its output.
func goCmd(env []string, dir string, args ...string) ([]byte, error) {
	fmt.Printf("$ go %s\n", strings.Join(args, " "))
	cmd := exec.Command("go", args...)
	cmd.Dir, cmd.Env = dir, env
	out, err := cmd.CombinedOutput()
	os.Stdout.Write(out)
	if err != nil {
		return out, fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// checkConsumer gets the three modules into an empty module and builds
// and runs a program that uses them.
func checkConsumer(env []string, version string) error {
	dir, err := os.MkdirTemp("", "modproxy-consumer-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Println("consumer: an empty module in", dir)
	if _, err := goCmd(env, dir, "mod", "init", "example.com/consumer"); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), consumerMain, 0o644); err != nil {
		return err
	}
	if _, err := goCmd(env, dir, "get", rootPath+"@"+version, rootPath+"/otel@"+version, rootPath+"/discovery/etcd@"+version); err != nil {
		return err
	}
	if _, err := goCmd(env, dir, "mod", "tidy"); err != nil {
		return err
	}
	if _, err := goCmd(env, dir, "build", "-o", "consumer", "."); err != nil {
		return err
	}
	modText, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	if bytes.Contains(modText, []byte("replace")) {
		return errors.New("the consumer's go.mod has a replace directive")
	}
	fmt.Printf("consumer: go.mod\n%s", modText)
	cmd := exec.Command(filepath.Join(dir, "consumer"))
	out, err := cmd.CombinedOutput()
	os.Stdout.Write(out)
	if err != nil {
		return fmt.Errorf("running the consumer: %w", err)
	}
	return nil
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
	if _, err := goCmd(env, dir, "mod", "tidy"); err != nil {
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
