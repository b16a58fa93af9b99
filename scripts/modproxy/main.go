// Command modproxy proves that Ferry's modules can be published: it builds
// a module proxy in the GOPROXY=file:// layout (@v/list, .info, .mod, and
// .zip made with golang.org/x/mod/zip) from the working tree at a
// candidate version for every module of the repository, then checks them
// the way a user meets them.
//
//	cd scripts/modproxy
//	go run . -check             # consistency, proxy, consumer, nested tidy
//	go run . -check -fix        # the same, tidying the nested modules in place
//	go run . -out /tmp/proxy    # only build the proxy, keep it
//
// -check runs three checks. Consistency: every nested module requires the
// root module at the candidate version, and go.work maps that version to
// the working tree. Consumer: in an empty module outside the repository,
// with GOWORK=off and no replace, it runs "go get" of the root, otel and
// discovery/etcd modules and "go mod tidy" twice, each time into a fresh
// module cache. First with GOPROXY set to the file proxy followed by the
// local module cache and the proxies of "go env GOPROXY", which supply the
// other modules, their sums checked by GOSUMDB; then with file:// proxies
// only, and GOSUMDB=off: the file proxy and a proxy of the first module
// cache without Ferry's modules. The second time it also builds and runs
// a program that uses all three, and its go.sum must be the first one.
// Tidy: each nested module, copied out of the repository, is tidied
// against the file proxy and must come out as committed, except for the
// root module's own go.sum lines, whose hashes are only known once a
// version is tagged (see RELEASING.md); -fix writes the tidied files back
// instead.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// rootPath is the root module's path.
const rootPath = "github.com/ferryrpc/ferry"

func main() {
	repo := flag.String("repo", "", "the repository's root (default: git's top level of the current directory)")
	version := flag.String("version", "", "the candidate version (default: the root version the nested modules require)")
	out := flag.String("out", "", "directory for the proxy (default: a temporary one, removed at exit)")
	check := flag.Bool("check", false, "check consistency, a consumer module and the nested modules' go.mod and go.sum")
	fix := flag.Bool("fix", false, "with -check: write the tidied go.mod and go.sum of the nested modules back")
	flag.Parse()
	if err := run(*repo, *version, *out, *check, *fix); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

func run(repo, version, out string, check, fix bool) error {
	if repo == "" {
		top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			return fmt.Errorf("no -repo and not in a git repository: %w", err)
		}
		repo = strings.TrimSpace(string(top))
	}
	repo, err := filepath.Abs(repo)
	if err != nil {
		return err
	}
	mods, err := findModules(repo)
	if err != nil {
		return err
	}
	if version == "" {
		if version, err = requiredRoot(mods); err != nil {
			return err
		}
	}
	if out == "" {
		tmp, err := os.MkdirTemp("", "modproxy-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		out = tmp
	}
	if out, err = filepath.Abs(out); err != nil {
		return err
	}
	files, err := listFiles(repo)
	if err != nil {
		return err
	}
	for _, m := range mods {
		if err := addModule(out, repo, m, version, files); err != nil {
			return fmt.Errorf("%s: %w", m.path, err)
		}
		fmt.Printf("proxy: %s@%s\n", m.path, version)
	}
	fmt.Printf("proxy: GOPROXY=file://%s\n", filepath.ToSlash(out))
	if !check {
		return nil
	}
	if err := checkConsistency(repo, mods, version); err != nil {
		return err
	}
	fmt.Println("check: every nested module requires", rootPath, version, "and go.work maps it to the working tree")
	return checkModules(out, repo, mods, version, fix)
}

// checkModules runs the consumer and tidy checks against the proxy at out.
func checkModules(out, repo string, mods []mod, version string, fix bool) error {
	tmp, err := os.MkdirTemp("", "modproxy-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fillCache, deps, fileCache := filepath.Join(tmp, "fill"), filepath.Join(tmp, "deps"), filepath.Join(tmp, "cache")

	// First the consumer gets (go get, go mod tidy) the other modules it
	// needs where the user gets them (the local module cache, then
	// "go env GOPROXY"), and Ferry's from the file proxy, into a fresh
	// module cache, checking their sums with GOSUMDB as configured.
	proxies, err := netProxies(out)
	if err != nil {
		return err
	}
	netEnv := goEnv(proxies, fillCache, "GONOSUMDB="+rootPath)
	fmt.Printf("consumer: first with GOPROXY=%s (the other modules it needs; output shown on failure)\n", strings.Join(proxies, ","))
	var first bytes.Buffer
	sum, err := checkConsumer(&first, netEnv, version, false)
	if err != nil {
		os.Stdout.Write(first.Bytes())
		return fmt.Errorf("consumer: %w", err)
	}

	// Then again from scratch, and built and run, with file proxies only:
	// Ferry's modules from the candidate proxy, the others from that
	// module cache without Ferry's. Nothing comes from the network, so no
	// checksum database either: the go.sum must be the one checked above.
	if err := depsProxy(fillCache, deps); err != nil {
		return err
	}
	fileProxies := []string{fileURL(out), fileURL(deps)}
	fmt.Printf("consumer: GOPROXY=%s GOSUMDB=off GOFLAGS=%q GOWORK=off\n", strings.Join(fileProxies, ","), "-mod=mod -modcacherw")
	sum2, err := checkConsumer(os.Stdout, goEnv(fileProxies, fileCache, "GOSUMDB=off"), version, true)
	if err != nil {
		return fmt.Errorf("consumer with file proxies only: %w", err)
	}
	if !bytes.Equal(sum, sum2) {
		return fmt.Errorf("consumer with file proxies only: its go.sum differs from the first run's, whose sums GOSUMDB checked:\n%s\nversus\n%s", sum2, sum)
	}
	fmt.Println("consumer: its go.sum is the first run's, whose sums GOSUMDB checked")

	for _, m := range mods {
		if m.dir == "." {
			continue
		}
		if err := checkTidy(netEnv, repo, m, fix); err != nil {
			return fmt.Errorf("tidy %s: %w", m.dir, err)
		}
		fmt.Printf("check: %s is tidy against the proxy\n", m.dir)
	}
	return nil
}
