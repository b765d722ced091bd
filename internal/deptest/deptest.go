// Package deptest checks the layer rules of DESIGN.md: a package's test calls
// Banned with the import paths (or path prefixes) that the package must never
// depend on, directly or through another package.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// Banned fails t if the package in the current directory depends, directly
// or indirectly, on any of the banned import paths. A banned entry ending in
// "/..." matches that path and everything below it.
func Banned(t *testing.T, banned ...string) {
	t.Helper()
	for _, dep := range deps(t, false) {
		for _, b := range banned {
			if matches(dep, b) {
				t.Errorf("imports %s, which DESIGN.md bans here", dep)
			}
		}
	}
}

// StdlibOnly fails t if the package depends on anything outside the standard
// library (test-only imports aside).
func StdlibOnly(t *testing.T) {
	t.Helper()
	for _, dep := range deps(t, true) {
		t.Errorf("imports non-standard package %s; only the standard library is allowed here", dep)
	}
}

func deps(t *testing.T, nonStdOnly bool) []string {
	t.Helper()
	format := "{{.ImportPath}}"
	if nonStdOnly {
		format = "{{if not .Standard}}{{.ImportPath}}{{end}}"
	}
	out, err := exec.Command("go", "list", "-deps", "-f", format, ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	self, err := exec.Command("go", "list", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	me := strings.TrimSpace(string(self))
	var res []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == me {
			continue
		}
		res = append(res, l)
	}
	return res
}

func matches(dep, banned string) bool {
	if p, ok := strings.CutSuffix(banned, "/..."); ok {
		return dep == p || strings.HasPrefix(dep, p+"/")
	}
	return dep == banned
}
