// Command gen writes mtproto/tlschema/data: the TL schemas of the layers
// tgvault's relay decodes, gzipped, from their sources (see package
// tlsource). Run it from the repository root after a client library or
// gotd moves to another layer:
//
//	go run ./mtproto/tlschema/gen -node "$TGVAULT_NODE_MODULES/node_modules"
//
// then add the layer to tlschema's layers table and docs.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/tgvault/tgvault/mtproto/tlschema/internal/tlsource"
)

func main() {
	node := flag.String("node", "", "a node_modules directory with telegram (GramJS) and @mtcute/core")
	python := flag.String("python", "/usr/bin/python3", "a python3 that imports Telethon")
	out := flag.String("out", "mtproto/tlschema/data", "the directory to write")
	flag.Parse()
	if err := run(*node, *python, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(node, python, out string) error {
	gotdDir, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/gotd/td").Output()
	if err != nil {
		return fmt.Errorf("go list gotd: %w", err)
	}
	texts, err := tlsource.Gotd(strings.TrimSpace(string(gotdDir)))
	if err != nil {
		return err
	}
	if node == "" {
		return fmt.Errorf("-node is required")
	}
	g, err := tlsource.GramJS(filepath.Join(node, "telegram"))
	if err != nil {
		return err
	}
	m, err := tlsource.Mtcute(filepath.Join(node, "@mtcute", "core"))
	if err != nil {
		return err
	}
	t, err := tlsource.Telethon(python, filepath.Join(filepath.Dir(out), "gen", "telethon_tl.py"))
	if err != nil {
		return err
	}
	texts = append(texts, g, m, t)
	for _, t := range texts {
		var b bytes.Buffer
		zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
		if err != nil {
			return err
		}
		if _, err := zw.Write([]byte(t.TL)); err != nil {
			return err
		}
		if err := zw.Close(); err != nil {
			return err
		}
		path := filepath.Join(out, t.File+".gz")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: layer %d, %d bytes of TL\n", path, t.Layer, len(t.TL))
	}
	return nil
}
