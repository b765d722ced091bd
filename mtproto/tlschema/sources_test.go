package tlschema

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/mtproto/tlschema/internal/tlsource"
)

func TestMain(m *testing.M) { os.Exit(realpart.Main(m)) }

const nodeHint = "npm install telegram@2.26.22 @mtcute/core@0.29.7 in a directory and set TGVAULT_NODE_MODULES to it (.ci/run does)"

// TestSourcesMatch regenerates each embedded schema from its source —
// gotd's module, Debian's Telethon, npm's GramJS and mtcute — and checks
// the embedded text is exactly it: the data files are what the client
// libraries speak, not a hand-edited copy (go generate rewrites them).
func TestSourcesMatch(t *testing.T) {
	t.Parallel()
	check := func(t *testing.T, src tlsource.Text) {
		t.Helper()
		got, err := readData(data, src.File)
		if err != nil {
			t.Fatalf("%s is not embedded: %v", src.File, err)
		}
		if got != src.TL {
			t.Fatalf("embedded %s differs from its source; run go generate ./mtproto/tlschema", src.File)
		}
		if src.Layer != 0 && Source(src.Layer) == "" {
			t.Fatalf("layer %d is embedded but not in layerSources", src.Layer)
		}
	}
	t.Run("gotd", func(t *testing.T) {
		t.Parallel()
		dir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gotd/td").Output()
		if err != nil {
			t.Fatal(err)
		}
		texts, err := tlsource.Gotd(strings.TrimSpace(string(dir)))
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range texts {
			check(t, tx)
		}
	})
	t.Run("telethon", func(t *testing.T) {
		t.Parallel()
		py := "/usr/bin/python3"
		if exec.Command(py, "-c", "import telethon").Run() != nil {
			realpart.Missing(t, "python3-telethon", "apt-get install python3-telethon")
		}
		tx, err := tlsource.Telethon(py, filepath.Join("gen", "telethon_tl.py"))
		if err != nil {
			t.Fatal(err)
		}
		check(t, tx)
	})
	t.Run("npm", func(t *testing.T) {
		t.Parallel()
		dir := os.Getenv("TGVAULT_NODE_MODULES")
		if dir == "" {
			realpart.Missing(t, "GramJS and mtcute (npm)", nodeHint)
		}
		g, err := tlsource.GramJS(filepath.Join(dir, "node_modules", "telegram"))
		if err != nil {
			realpart.Missing(t, "npm package telegram", nodeHint)
		}
		check(t, g)
		m, err := tlsource.Mtcute(filepath.Join(dir, "node_modules", "@mtcute", "core"))
		if err != nil {
			realpart.Missing(t, "npm package @mtcute/core", nodeHint)
		}
		check(t, m)
	})
}

// TestLayerCoverage: every constructor of each embedded layer decodes
// with the union (All) exactly as with its own layer's schema.
func TestLayerCoverage(t *testing.T) {
	t.Parallel()
	u := mustAll(t)
	for _, l := range Layers() {
		s, _, err := Layer(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range s.Combinators() {
			if d := u.ByID(c.ID); d == nil || !d.sameWire(c) {
				t.Errorf("layer %d: %s is %v in the union", l, c, d)
			}
		}
	}
}
