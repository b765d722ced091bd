package tlschema

import (
	"errors"
	"io/fs"
	"sync"
	"testing"
)

// TestLoadFileOnce: goroutines that ask for one embedded file at the same
// time wait for a single parse and all get its *Schema (run it with
// -race); a file that is not embedded is fs.ErrNotExist.
func TestLoadFileOnce(t *testing.T) {
	t.Parallel()
	c := newFileCache(data)
	const n = 8
	got := make([]*Schema, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := c.load("api-229.tl")
			if err != nil {
				t.Error(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	for i, s := range got {
		if s == nil || s != got[0] || len(s.Layers) != 1 || s.Layers[0] != 229 {
			t.Errorf("goroutine %d got %p, goroutine 0 %p; want one schema of layer 229", i, s, got[0])
		}
	}
	if _, err := c.load("api-1.tl"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file not embedded: %v, want fs.ErrNotExist", err)
	}
}
