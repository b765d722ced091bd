package daemon

import (
	"strings"
	"testing"
)

// TestOpenFilesWarning: run warns, with the figures, when its accounts
// need more open files than the process may have, and stays quiet
// otherwise.
func TestOpenFilesWarning(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		accounts int
		limit    uint64
		known    bool
		want     string
	}{
		{"over", 20000, 20000, true, "20000 accounts need about 21200 open files (a connection each, and the files of a save), and this process may open 20000"},
		{"at the margin", 18800, 20000, true, ""},
		{"far under", 100, 20000, true, ""},
		{"no limit to read", 50000, 0, false, ""},
	} {
		got := openFilesWarning(c.accounts, c.limit, c.known)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if l, ok := openFileLimit(); ok && l == 0 {
		t.Error("openFileLimit: 0 files")
	}
}
