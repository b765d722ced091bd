// Package tlsource reads the TL schemas that tgvault embeds
// (mtproto/tlschema/data) from where they come: gotd's _schema directory
// (layer 229 and MTProto), GramJS's tl/apiTl.js (198), mtcute's
// @mtcute/core/tl/api-schema.json (225) and the classes of Debian's
// Telethon 1.25.1 (144, through gen/telethon_tl.py). The generator
// (mtproto/tlschema/gen) writes the data files with it, and
// tlschema's TestSourcesMatch checks them against the installed sources.
//
// Layer rule: standard library only; it runs python3 for Telethon.
package tlsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Text is one schema file: its name in tlschema/data and its TL text.
type Text struct {
	File  string
	Layer int // 0 for MTProto's own schema
	TL    string
}

// Gotd reads gotd's telegram.tl (layer in its header) and mt.tl from
// gotd's module directory.
func Gotd(dir string) ([]Text, error) {
	api, err := os.ReadFile(filepath.Join(dir, "_schema", "telegram.tl"))
	if err != nil {
		return nil, fmt.Errorf("tlsource: gotd: %w", err)
	}
	mt, err := os.ReadFile(filepath.Join(dir, "_schema", "mt.tl"))
	if err != nil {
		return nil, fmt.Errorf("tlsource: gotd: %w", err)
	}
	layer, err := layerLine(string(api), `(?m)^// LAYER (\d+)`)
	if err != nil {
		return nil, fmt.Errorf("tlsource: gotd telegram.tl: %w", err)
	}
	return []Text{
		{File: fmt.Sprintf("api-%d.tl", layer), Layer: layer, TL: header("gotd "+filepath.Base(dir)+" _schema/telegram.tl", layer) + string(api)},
		{File: "mtproto.tl", TL: header("gotd "+filepath.Base(dir)+" _schema/mt.tl", 0) + string(mt)},
	}, nil
}

// GramJS reads the schema of GramJS (npm "telegram") from its package
// directory: tl/apiTl.js holds the TL text, tl/AllTLObjects.js the layer.
func GramJS(dir string) (Text, error) {
	js, err := os.ReadFile(filepath.Join(dir, "tl", "apiTl.js"))
	if err != nil {
		return Text{}, fmt.Errorf("tlsource: gramjs: %w", err)
	}
	all, err := os.ReadFile(filepath.Join(dir, "tl", "AllTLObjects.js"))
	if err != nil {
		return Text{}, fmt.Errorf("tlsource: gramjs: %w", err)
	}
	layer, err := layerLine(string(all), `LAYER = (\d+)`)
	if err != nil {
		return Text{}, fmt.Errorf("tlsource: gramjs AllTLObjects.js: %w", err)
	}
	start, end := bytes.IndexByte(js, '`'), bytes.LastIndexByte(js, '`')
	if start < 0 || end <= start {
		return Text{}, errors.New("tlsource: gramjs apiTl.js: no template string")
	}
	return Text{File: fmt.Sprintf("api-%d.tl", layer), Layer: layer, TL: header("GramJS "+version(dir)+" tl/apiTl.js", layer) + string(js[start+1:end]) + "\n"}, nil
}

// Mtcute reads mtcute's schema (@mtcute/core's tl/api-schema.json, its
// own JSON form of api.tl) and writes it as TL text.
func Mtcute(dir string) (Text, error) {
	raw, err := os.ReadFile(filepath.Join(dir, "tl", "api-schema.json"))
	if err != nil {
		return Text{}, fmt.Errorf("tlsource: mtcute: %w", err)
	}
	var schema struct {
		Layer   int `json:"l"`
		Entries []struct {
			Kind      string `json:"kind"`
			Name      string `json:"name"`
			ID        uint32 `json:"id"`
			Type      string `json:"type"`
			Generics  []struct{ Name, Type string }
			Arguments []struct {
				Name      string `json:"name"`
				Type      string `json:"type"`
				Modifiers *struct {
					Predicate string `json:"predicate"`
					IsVector  bool   `json:"isVector"`
					IsBare    bool   `json:"isBareVector"`
				} `json:"typeModifiers"`
			} `json:"arguments"`
		} `json:"e"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		return Text{}, fmt.Errorf("tlsource: mtcute api-schema.json: %w", err)
	}
	var types, methods strings.Builder
	for _, e := range schema.Entries {
		var b strings.Builder
		fmt.Fprintf(&b, "%s#%08x", e.Name, e.ID)
		for _, g := range e.Generics {
			fmt.Fprintf(&b, " {%s:%s}", g.Name, g.Type)
		}
		for _, a := range e.Arguments {
			t := a.Type
			if t == "int53" {
				t = "long" // mtcute reads some longs as JS numbers
			}
			pred := ""
			if m := a.Modifiers; m != nil {
				switch {
				case m.IsBare:
					t = "vector<" + t + ">"
				case m.IsVector:
					t = "Vector<" + t + ">"
				}
				if m.Predicate != "" {
					pred = m.Predicate + "?"
				}
			}
			fmt.Fprintf(&b, " %s:%s%s", a.Name, pred, t)
		}
		fmt.Fprintf(&b, " = %s;\n", e.Type)
		switch e.Kind {
		case "class":
			types.WriteString(b.String())
		case "method":
			methods.WriteString(b.String())
		default:
			return Text{}, fmt.Errorf("tlsource: mtcute: entry %s of kind %q", e.Name, e.Kind)
		}
	}
	return Text{
		File:  fmt.Sprintf("api-%d.tl", schema.Layer),
		Layer: schema.Layer,
		TL:    header("mtcute @mtcute/core "+version(dir)+" tl/api-schema.json", schema.Layer) + types.String() + "---functions---\n" + methods.String(),
	}, nil
}

// Telethon runs script (gen/telethon_tl.py) with python, which reads the
// installed Telethon's classes.
func Telethon(python, script string) (Text, error) {
	out, err := exec.Command(python, script).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return Text{}, fmt.Errorf("tlsource: telethon: %w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return Text{}, fmt.Errorf("tlsource: telethon: %w", err)
	}
	layer, err := layerLine(string(out), `(?m)^// LAYER (\d+)`)
	if err != nil {
		return Text{}, fmt.Errorf("tlsource: telethon: %w", err)
	}
	return Text{File: fmt.Sprintf("api-%d.tl", layer), Layer: layer, TL: string(out)}, nil
}

func header(source string, layer int) string {
	if layer == 0 {
		return "// Source: " + source + " (MTProto)\n"
	}
	return fmt.Sprintf("// Source: %s\n// LAYER %d\n", source, layer)
}

func layerLine(text, pattern string) (int, error) {
	m := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if m == nil {
		return 0, errors.New("no layer")
	}
	return strconv.Atoi(m[1])
}

// version reads the "version" of the package.json in dir.
func version(dir string) string {
	raw, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "?"
	}
	var p struct{ Version string }
	if json.Unmarshal(raw, &p) != nil || p.Version == "" {
		return "?"
	}
	return p.Version
}
