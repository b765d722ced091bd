package deptest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const (
	module = "github.com/tgvault/tgvault"
	// doc is the table's file, relative to the module root; every failure
	// message names it.
	doc  = "docs/ARCHITECTURE.md"
	gotd = "github.com/gotd/td"
)

// gotdOutsideMtproto are the packages outside mtproto/... whose rows may
// allow gotd: a real MTProxy for the proxy tests, and the benchmark's
// yardstick of plain gotd clients.
var gotdOutsideMtproto = []string{"internal/mtproxytest", "bench/gotdclients"}

// vaultAndMtproto are the only packages that may import both vault/...
// and mtproto/...: the run daemon, where the two meet, the demo built on
// it, and the CLI.
var vaultAndMtproto = []string{"daemon", "daemon/demo", "cmd/tgvault"}

// platforms are the environments whose imports are checked: build tags
// give each OS its own files, and the test hooks (tgvault_testhooks) theirs.
var platforms = [][]string{
	nil, // this machine, as it is
	{"GOOS=linux", "CGO_ENABLED=0"},
	{"GOOS=darwin", "CGO_ENABLED=0"},
	{"GOOS=windows", "CGO_ENABLED=0"},
	{"GOOS=freebsd", "CGO_ENABLED=0"},
	{"GOFLAGS=-tags=tgvault_testhooks"}, // the test hooks' files obey the table too
}

// row is one package's line of the table.
type row struct {
	allow []string // module-relative packages, other modules' paths, "testing"; a "/..." suffix covers a tree
	line  int
}

// TestLayers checks every package's non-test imports against its row in
// docs/ARCHITECTURE.md.
func TestLayers(t *testing.T) {
	t.Parallel()
	root := moduleRoot(t)
	rows := readTable(t, filepath.Join(root, doc))

	imports := map[string]map[string]bool{} // module-relative package -> its imports on any platform
	for _, env := range platforms {
		cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list (%v): %v", env, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			f := strings.Fields(l)
			if len(f) == 0 {
				continue
			}
			pkg := strings.TrimPrefix(f[0], module+"/")
			if imports[pkg] == nil {
				imports[pkg] = map[string]bool{}
			}
			for _, imp := range f[1:] {
				imports[pkg][imp] = true
			}
		}
	}

	for _, pkg := range sortedKeys(imports) {
		r, ok := rows[pkg]
		if !ok {
			t.Errorf("package %s has no row in the table of %s: add one saying what it owns and may import", pkg, doc)
			continue
		}
		for _, imp := range sortedKeys(imports[pkg]) {
			if !allowed(imp, r.allow) {
				t.Errorf("%s imports %s, which its row in %s (line %d) does not allow (may import: %s)",
					pkg, imp, doc, r.line, strings.Join(r.allow, ", "))
			}
		}
	}
	for _, pkg := range sortedKeys(imports) {
		if !slices.Contains(vaultAndMtproto, pkg) && importsTree(imports[pkg], "vault") && importsTree(imports[pkg], "mtproto") {
			t.Errorf("%s imports both vault/... and mtproto/...; only %s may (%s): the code that joins them belongs in daemon",
				pkg, strings.Join(vaultAndMtproto, " and "), doc)
		}
	}
	for _, pkg := range sortedKeys(rows) {
		r := rows[pkg]
		if _, ok := imports[pkg]; !ok {
			t.Errorf("%s line %d: a row for %s, which is no package of the module", doc, r.line, pkg)
		}
		if pkg == "mtproto" || strings.HasPrefix(pkg, "mtproto/") || slices.Contains(gotdOutsideMtproto, pkg) {
			continue
		}
		for _, a := range r.allow {
			if a == gotd || strings.HasPrefix(a, gotd+"/") {
				t.Errorf("%s line %d: %s may import gotd; only mtproto/... (the dev server included) may", doc, r.line, pkg)
			}
		}
	}
}

// importsTree reports whether imps holds the module's package tree or one
// under it.
func importsTree(imps map[string]bool, tree string) bool {
	for imp := range imps {
		if rel, ok := strings.CutPrefix(imp, module+"/"); ok && (rel == tree || strings.HasPrefix(rel, tree+"/")) {
			return true
		}
	}
	return false
}

// allowed reports whether imp (a full import path) is in the allow list.
func allowed(imp string, allow []string) bool {
	if isStd(imp) && imp != "testing" && !strings.HasPrefix(imp, "testing/") {
		return true
	}
	name := imp
	if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
		name = rel
	}
	for _, a := range allow {
		if tree, ok := strings.CutSuffix(a, "/..."); ok {
			if name == tree || strings.HasPrefix(name, tree+"/") {
				return true
			}
		} else if name == a {
			return true
		}
	}
	return false
}

// isStd reports whether an import path is the standard library's: its
// first element has no dot (every module path outside it has one).
func isStd(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

var (
	headerRe = regexp.MustCompile(`^\|\s*package\s*\|\s*owns\s*\|\s*may import\s*\|\s*$`)
	codeRe   = regexp.MustCompile("`([^`]+)`")
)

// readTable parses the table whose header is "| package | owns | may
// import |": the first cell names the package, the backquoted names of
// the last cell are its allow list.
func readTable(t *testing.T, path string) map[string]row {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("the layer rules are the table in %s: %v", doc, err)
	}
	defer f.Close()
	rows := map[string]row{}
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		switch {
		case !in:
			in = headerRe.MatchString(l)
		case strings.HasPrefix(l, "|---"):
		case strings.HasPrefix(l, "|"):
			cells := strings.Split(strings.Trim(l, "|"), "|")
			if len(cells) < 3 {
				t.Fatalf("%s line %d: a row needs three cells: package | owns | may import", doc, n)
			}
			m := codeRe.FindStringSubmatch(cells[0])
			if m == nil {
				t.Fatalf("%s line %d: the first cell must name a package in backquotes", doc, n)
			}
			if _, dup := rows[m[1]]; dup {
				t.Errorf("%s line %d: a second row for %s", doc, n, m[1])
			}
			r := row{line: n, allow: []string{}}
			for _, c := range codeRe.FindAllStringSubmatch(cells[len(cells)-1], -1) {
				r.allow = append(r.allow, c[1])
			}
			rows[m[1]] = r
		default:
			in = false
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatalf("%s has no table with the header | package | owns | may import |", doc)
	}
	return rows
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
