package vault

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestFindSources: recursive by default, tdata folders anywhere below
// taken whole, hidden entries and symlinks skipped with the reason,
// SQLite companions left out silently; --no-recurse stops at the top.
func TestFindSources(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	mk := func(rel, body string) string {
		p := filepath.Join(root, filepath.FromSlash(rel))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mk("a.session", "x")
	mk("a.session-journal", "x")
	mk("README.md", "x")
	mk("sub/b.txt", "x")
	mk("sub/deeper/c.json", "x")
	mk("sub/tdata/key_datas", "x")
	mk("sub/tdata/D877F783D5D3EF8Cs", "x")
	mk(".git/config", "x")
	mk(".hidden", "x")
	symlinks := runtime.GOOS != "windows"
	if symlinks {
		if err := os.Symlink(filepath.Join(root, "a.session"), filepath.Join(root, "link.session")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(root, "sub"), filepath.Join(root, "linkdir")); err != nil {
			t.Fatal(err)
		}
	}
	isTData := func(dir string) bool {
		_, err := os.Stat(filepath.Join(dir, "key_datas"))
		return err == nil
	}
	rel := func(p string) string {
		r, _ := filepath.Rel(root, p)
		return filepath.ToSlash(r)
	}
	list := func(o FindOptions) (string, map[string]string) {
		srcs, skip, err := FindSources([]string{root}, o)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range srcs {
			n := rel(s.Path)
			if s.Folder {
				n += "/"
			}
			if !s.Found {
				t.Errorf("%s: not marked found", n)
			}
			got = append(got, n)
		}
		why := map[string]string{}
		for _, k := range skip {
			why[rel(k.Path)] = k.Reason
		}
		return strings.Join(got, " "), why
	}
	got, why := list(FindOptions{IsFolder: isTData})
	if got != "README.md a.session sub/b.txt sub/deeper/c.json sub/tdata/" {
		t.Errorf("recursive: %s", got)
	}
	for p, want := range map[string]string{".git": "hidden directory", ".hidden": "hidden file"} {
		if !strings.Contains(why[p], want) {
			t.Errorf("%s skipped for %q, want %q", p, why[p], want)
		}
	}
	if symlinks {
		for _, p := range []string{"link.session", "linkdir"} {
			if !strings.Contains(why[p], "symbolic link (not followed") {
				t.Errorf("%s skipped for %q", p, why[p])
			}
		}
	}
	got, why = list(FindOptions{NoRecurse: true, IsFolder: isTData})
	if got != "README.md a.session" || !strings.Contains(why["sub"], "--no-recurse") {
		t.Errorf("--no-recurse: %s; sub: %q", got, why["sub"])
	}
	// A tdata folder named is a folder source; a file named is a source
	// (not "found"); a missing path is an error.
	srcs, _, err := FindSources([]string{filepath.Join(root, "sub", "tdata"), filepath.Join(root, "a.session")}, FindOptions{IsFolder: isTData})
	if err != nil || len(srcs) != 2 || !srcs[0].Folder || srcs[0].Found || srcs[1].Folder || srcs[1].Found {
		t.Errorf("named: %+v, %v", srcs, err)
	}
	if _, _, err := FindSources([]string{filepath.Join(root, "nope")}, FindOptions{}); err == nil {
		t.Error("a missing path: no error")
	}
}
