package tlschema

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sync"
)

//go:generate go run ./gen -node $TGVAULT_NODE_MODULES/node_modules -out data

// data holds the schemas of the layers tgvault knows, gzipped TL text
// written by gen from their sources (package tlsource).
//
//go:embed data/*.tl.gz
var data embed.FS

// The layers whose schemas are embedded, and where each comes from. Each
// is the schema of a client library tgvault's relay serves; README.md
// ("Run a script without giving it the key") lists them.
var layerSources = map[int]string{
	144: "Telethon 1.25.1 (Debian python3-telethon), read back from its generated classes",
	198: "GramJS 2.26.22 (npm telegram), tl/apiTl.js",
	225: "mtcute 0.29.7 (npm @mtcute/core), tl/api-schema.json",
	229: "gotd v0.162.0, _schema/telegram.tl (with its legacy constructors)",
}

// Layers returns the layers whose schemas are embedded, ascending.
func Layers() []int {
	out := make([]int, 0, len(layerSources))
	for l := range layerSources {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// Source says where the embedded schema of layer comes from ("" for a
// layer not embedded).
func Source(layer int) string { return layerSources[layer] }

// MTProto returns MTProto's own schema (mt.tl: the service messages and
// the key exchange), which every layer shares.
func MTProto() (*Schema, error) { return loadFile("mtproto.tl") }

// Layer returns the schema of one embedded layer, with MTProto's own.
// ok is false for a layer that is not embedded.
func Layer(layer int) (s *Schema, ok bool, err error) {
	if _, ok := layerSources[layer]; !ok {
		return nil, false, nil
	}
	api, err := loadFile(fmt.Sprintf("api-%d.tl", layer))
	if err != nil {
		return nil, true, err
	}
	mt, err := MTProto()
	if err != nil {
		return nil, true, err
	}
	s, err = Merge(mt, api)
	if err != nil {
		return nil, true, err
	}
	s.Layers = []int{layer}
	return s, true, nil
}

// All returns the union of every embedded layer's schema and MTProto's:
// a constructor id means one combinator whatever the layer (it is the
// CRC32 of the combinator's text), so bytes of any embedded layer, and
// of any layer between them whose constructors they all have, decode
// with it. The schema is built once and shared.
func All() (*Schema, error) { return all() }

var all = sync.OnceValues(func() (*Schema, error) {
	// The newest first: its names win for the ids layers share (gotd's
	// file has every namespace; Telethon's loses those of types).
	var schemas []*Schema
	layers := Layers()
	slices.Reverse(layers)
	for _, l := range layers {
		s, _, err := Layer(l)
		if err != nil {
			return nil, err
		}
		schemas = append(schemas, s)
	}
	s, err := Merge(schemas...)
	if err != nil {
		return nil, err
	}
	return s, nil
})

// files parses each embedded file once, however many goroutines ask for
// it at the same time.
var files = newFileCache(data)

func loadFile(name string) (*Schema, error) { return files.load(name) }

// fileCache parses each TL file of an fs.FS (data/NAME.gz) once, on first
// use; callers that ask at the same time wait for the one parse and get
// the same *Schema. It is safe for concurrent use.
type fileCache struct {
	fsys   fs.FS
	mu     sync.Mutex
	byName map[string]func() (*Schema, error)
}

func newFileCache(fsys fs.FS) *fileCache {
	return &fileCache{fsys: fsys, byName: map[string]func() (*Schema, error){}}
}

func (c *fileCache) load(name string) (*Schema, error) {
	c.mu.Lock()
	parse, ok := c.byName[name]
	if !ok {
		parse = sync.OnceValues(func() (*Schema, error) { return parseFile(c.fsys, name) })
		c.byName[name] = parse
	}
	c.mu.Unlock()
	return parse()
}

// parseFile parses the embedded file name (data/name.gz).
func parseFile(fsys fs.FS, name string) (*Schema, error) {
	text, err := readData(fsys, name)
	if err != nil {
		return nil, err
	}
	s, err := Parse(name, text)
	if err != nil {
		return nil, err
	}
	if l, ok := layerOf(name); ok {
		s.Layers = []int{l}
	}
	return s, nil
}

func layerOf(name string) (int, bool) {
	var l int
	if _, err := fmt.Sscanf(name, "api-%d.tl", &l); err != nil {
		return 0, false
	}
	return l, true
}

// readData returns the TL text of an embedded file.
func readData(fsys fs.FS, name string) (string, error) {
	raw, err := fs.ReadFile(fsys, "data/"+name+".gz")
	if err != nil {
		return "", fmt.Errorf("tlschema: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return "", fmt.Errorf("tlschema: %s: %w", name, err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		return "", fmt.Errorf("tlschema: %s: %w", name, err)
	}
	return string(text), nil
}
