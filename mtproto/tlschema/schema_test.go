package tlschema

import (
	"testing"
)

func TestEmbeddedLayers(t *testing.T) {
	t.Parallel()
	for _, l := range Layers() {
		s, ok, err := Layer(l)
		if err != nil || !ok {
			t.Fatalf("layer %d: %v %v", l, ok, err)
		}
		t.Logf("layer %d: %d combinators", l, s.Len())
	}
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("all: %d combinators, layers %v", all.Len(), all.Layers)
}
