package vault

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestAPIListsEveryMethod keeps api.go's claim true: its closing comment
// lists every exported function of the package and every exported method
// of *Vault, and nothing else.
func TestAPIListsEveryMethod(t *testing.T) {
	t.Parallel()
	api, err := os.ReadFile("api.go")
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	re := regexp.MustCompile(`(?m)^//\tfunc (?:\(v \*Vault\) )?([A-Z]\w*)\(`)
	for _, m := range re.FindAllStringSubmatch(string(api), -1) {
		listed[m[1]] = true
	}

	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range pkgs["vault"].Files {
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !fn.Name.IsExported() {
				continue
			}
			if fn.Recv != nil {
				star, ok := fn.Recv.List[0].Type.(*ast.StarExpr)
				if !ok {
					continue
				}
				if id, ok := star.X.(*ast.Ident); !ok || id.Name != "Vault" {
					continue
				}
			}
			have[fn.Name.Name] = true
		}
	}
	var missing, gone []string
	for n := range have {
		if !listed[n] {
			missing = append(missing, n)
		}
	}
	for n := range listed {
		if !have[n] {
			gone = append(gone, n)
		}
	}
	slices.Sort(missing)
	slices.Sort(gone)
	if len(missing) > 0 {
		t.Errorf("api.go's list of the Vault's methods lacks %v", missing)
	}
	if len(gone) > 0 {
		t.Errorf("api.go lists %v, which the package no longer has", gone)
	}
}
