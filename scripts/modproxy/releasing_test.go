package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// (No testify: this tool module depends on golang.org/x/mod alone.)

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// tools are the modules RELEASING.md says are never tagged.
var tools = []string{"benchmarks", "scripts/modproxy"}

// releasing returns RELEASING.md's text and the repository's modules.
func releasing(t *testing.T) (string, []mod) {
	t.Helper()
	repo, err := filepath.Abs("../..")
	must(t, err)
	b, err := os.ReadFile(filepath.Join(repo, "RELEASING.md"))
	must(t, err)
	mods, err := findModules(repo)
	must(t, err)
	return string(b), mods
}

// TestReleasingTagTable checks RELEASING.md's table against the
// repository: one row per module that is not a tool, with its path, its
// directory and a tag named after the directory (vX.Y.Z at the root,
// DIR/vX.Y.Z below it, as the go command expects of a nested module); the
// tools are modules too; the release steps tag exactly those modules.
func TestReleasingTagTable(t *testing.T) {
	text, mods := releasing(t)
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| `([^`]+)` \\| `([^`]+)` \\|$")
	rows := map[string][2]string{} // module path -> directory, tag
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		rows[m[1]] = [2]string{m[2], m[3]}
	}
	var dirs []string
	for _, m := range mods {
		dirs = append(dirs, m.dir)
		r, ok := rows[m.path]
		if slices.Contains(tools, m.dir) {
			if ok {
				t.Errorf("RELEASING.md's table has a tag for %s, a tool, never tagged", m.dir)
			}
			continue
		}
		if !ok {
			t.Errorf("RELEASING.md's table has no row for %s (%s)", m.path, m.dir)
			continue
		}
		delete(rows, m.path)
		wantDir, wantTag := m.dir+"/", m.dir+"/vX.Y.Z"
		if m.dir == "." {
			wantDir, wantTag = ".", "vX.Y.Z"
		}
		if r != [2]string{wantDir, wantTag} {
			t.Errorf("RELEASING.md: %s: directory and tag %q, want %q", m.path, r, [2]string{wantDir, wantTag})
		}
		if m.dir != "." && !strings.Contains(text, "git tag "+wantTag) {
			t.Errorf("RELEASING.md: step 6 does not tag %s", wantTag)
		}
		if !strings.Contains(text, m.path+"@vX.Y.Z") {
			t.Errorf("RELEASING.md: step 7 does not get %s", m.path)
		}
	}
	if len(rows) > 0 {
		t.Errorf("RELEASING.md has rows for modules the repository does not have: %v", rows)
	}
	for _, d := range tools {
		if !slices.Contains(dirs, d) {
			t.Errorf("RELEASING.md: %s/ is said to be a module; it is not", d)
		}
	}
}

// TestReleasingVersionsBetweenModules checks "Versions between modules"
// and the release steps against the repository: the go directive it names
// is every module's; the nested modules that require the root are those
// step 2 and step 5 name, all at one version, without replace; go.work
// maps that version to ./; and none of their go.sum files has a line for
// the root module (which RELEASING.md says holds until that version is
// published: the repository has no tag yet).
func TestReleasingVersionsBetweenModules(t *testing.T) {
	text, mods := releasing(t)
	goVersion := regexp.MustCompile("\\(`go ([0-9.]+)` today").FindStringSubmatch(text)
	if goVersion == nil {
		t.Fatal("RELEASING.md does not name the go directive")
	}
	var requiring []string
	for _, m := range mods {
		if m.file.Go == nil || m.file.Go.Version != goVersion[1] {
			t.Errorf("%s/go.mod does not say go %s, as RELEASING.md does", m.dir, goVersion[1])
		}
		for _, r := range m.file.Require {
			if r.Mod.Path == rootPath {
				requiring = append(requiring, m.dir+"/")
			}
		}
	}
	steps := regexp.MustCompile("in `otel/`,\\s+`discovery/etcd/`\\s+and\\s+`benchmarks/`").FindAllString(text, -1)
	if len(steps) != 2 {
		t.Errorf("steps 2 and 5 should name otel/, discovery/etcd/ and benchmarks/; found %d", len(steps))
	}
	slices.Sort(requiring)
	if want := []string{"benchmarks/", "discovery/etcd/", "otel/"}; !slices.Equal(want, requiring) {
		t.Errorf("the modules that require the root are %q, RELEASING.md names %q", requiring, want)
	}

	version, err := requiredRoot(mods)
	must(t, err)
	repo, err := filepath.Abs("../..")
	must(t, err)
	must(t, checkConsistency(repo, mods, version))
	for _, d := range requiring {
		sum, err := os.ReadFile(filepath.Join(repo, d, "go.sum"))
		must(t, err)
		if strings.Contains("\n"+string(sum), "\n"+rootPath+" ") {
			t.Errorf("%sgo.sum has lines for %s, whose version is not published yet", d, rootPath)
		}
	}
}

// TestConsistencyRefusesWhatReleasingForbids: a nested module with a
// replace directive or another root version, and a go.work without the
// replace line, fail the check, as RELEASING.md says.
func TestConsistencyRefusesWhatReleasingForbids(t *testing.T) {
	for _, tc := range []struct {
		otel, work, bad string
	}{
		{"require " + rootPath + " v0.1.0\n", "replace " + rootPath + " v0.1.0 => ./\n", ""},
		{"require " + rootPath + " v0.1.0\nreplace " + rootPath + " => ../\n", "replace " + rootPath + " v0.1.0 => ./\n", "nested modules must build without replace"},
		{"require " + rootPath + " v0.0.9\n", "replace " + rootPath + " v0.1.0 => ./\n", "requires " + rootPath + " v0.0.9, not v0.1.0"},
		{"require " + rootPath + " v0.1.0\n", "", "go.work does not replace"},
		{"require " + rootPath + " v0.1.0\n", "replace " + rootPath + " v0.0.9 => ./\n", "go.work does not replace"},
	} {
		r := t.TempDir()
		must(t, os.MkdirAll(filepath.Join(r, "otel"), 0o755))
		must(t, os.WriteFile(filepath.Join(r, "go.mod"), []byte("module "+rootPath+"\n\ngo 1.26.0\n"), 0o644))
		must(t, os.WriteFile(filepath.Join(r, "otel", "go.mod"), []byte("module "+rootPath+"/otel\n\ngo 1.26.0\n\n"+tc.otel), 0o644))
		must(t, os.WriteFile(filepath.Join(r, "go.work"), []byte("go 1.26.0\n\nuse (\n\t.\n\t./otel\n)\n\n"+tc.work), 0o644))
		mods, err := findModules(r)
		must(t, err)
		err = checkConsistency(r, mods, "v0.1.0")
		switch {
		case tc.bad == "" && err != nil:
			t.Errorf("%q: %v", tc.otel, err)
		case tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)):
			t.Errorf("%q / %q: got %v, want an error saying %q", tc.otel, tc.work, err, tc.bad)
		}
	}
}
