package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// mod is one module of the repository.
type mod struct {
	dir  string // slash-separated, relative to the repository; "." for the root
	path string // module path
	file *modfile.File
	raw  []byte // go.mod as written
}

// findModules returns the repository's modules, the root first.
func findModules(repo string) ([]mod, error) {
	var mods []mod
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != repo && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Name() != "go.mod" {
			return nil
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(p, raw, nil)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repo, filepath.Dir(p))
		if err != nil {
			return err
		}
		mods = append(mods, mod{dir: filepath.ToSlash(rel), path: f.Module.Mod.Path, file: f, raw: raw})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(mods, func(a, b mod) int { return strings.Compare(a.dir, b.dir) })
	if len(mods) == 0 || mods[0].dir != "." || mods[0].path != rootPath {
		return nil, fmt.Errorf("%s is not the root of %s", repo, rootPath)
	}
	return mods, nil
}

// requiredRoot returns the one root version the nested modules require.
func requiredRoot(mods []mod) (string, error) {
	version := ""
	for _, m := range mods[1:] {
		for _, r := range m.file.Require {
			if r.Mod.Path != rootPath {
				continue
			}
			if version != "" && r.Mod.Version != version {
				return "", fmt.Errorf("nested modules require different root versions: %s and %s", version, r.Mod.Version)
			}
			version = r.Mod.Version
		}
	}
	if version == "" {
		return "", errors.New("no nested module requires the root module; pass -version")
	}
	return version, nil
}

// listFiles returns the repository's files as git sees them, tracked or
// new but not ignored, that exist in the working tree; slash-separated
// and relative to the repository.
func listFiles(repo string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %w", err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		if st, err := os.Lstat(filepath.Join(repo, filepath.FromSlash(f))); err == nil && st.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	return files, nil
}

// file is one file of a module zip.
type file struct{ rel, abs string }

func (f file) Path() string                 { return f.rel }
func (f file) Lstat() (os.FileInfo, error)  { return os.Lstat(f.abs) }
func (f file) Open() (io.ReadCloser, error) { return os.Open(f.abs) }

// addModule writes m at version into the proxy at out: the zip of its
// files (x/mod/zip leaves out nested modules' files), its go.mod, an
// .info and the version list.
func addModule(out, repo string, m mod, version string, files []string) error {
	var zfiles []zip.File
	for _, f := range files {
		rel := f
		if m.dir != "." {
			var ok bool
			if rel, ok = strings.CutPrefix(f, m.dir+"/"); !ok {
				continue
			}
		}
		zfiles = append(zfiles, file{rel: rel, abs: filepath.Join(repo, filepath.FromSlash(f))})
	}
	epath, err := module.EscapePath(m.path)
	if err != nil {
		return err
	}
	ever, err := module.EscapeVersion(version)
	if err != nil {
		return err
	}
	dir := filepath.Join(out, filepath.FromSlash(epath), "@v")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	zf, err := os.Create(filepath.Join(dir, ever+".zip"))
	if err != nil {
		return err
	}
	if err := zip.Create(zf, module.Version{Path: m.path, Version: version}, zfiles); err != nil {
		zf.Close()
		return err
	}
	if err := zf.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ever+".mod"), m.raw, 0o644); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, ever+".info"), info, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "list"), []byte(version+"\n"), 0o644)
}
