package devserver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/storage/foreign"
)

// TestDemoSameEveryStart: the demo bot's token and the demo user survive a
// restart of the state directory (not made twice), and seeds are
// readable Pyrogram files of seeded users, 0600 in a 0700 directory.
func TestDemoSameEveryStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Demo()
	if err != nil {
		t.Fatal(err)
	}
	uid, ok := s.UserByPhone(DemoPhone)
	if !ok || tok == "" {
		t.Fatalf("demo user %v, bot token %q", ok, tok)
	}
	seeds, err := s.WriteSeeds(2)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tok2, err := s.Demo()
	if err != nil {
		t.Fatal(err)
	}
	if uid2, _ := s.UserByPhone(DemoPhone); tok2 != tok || uid2 != uid {
		t.Errorf("after a restart: token %q user %d, want %q %d", tok2, uid2, tok, uid)
	}
	if fi, err := os.Stat(seeds); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("seeds dir: %v %v", fi, err)
	}
	files, _ := filepath.Glob(filepath.Join(seeds, "seed*.session"))
	if len(files) != 2 {
		t.Fatalf("seed files %v, want 2", files)
	}
	for _, f := range files {
		if fi, _ := os.Stat(f); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", f, fi.Mode().Perm())
		}
		ff, err := foreign.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if id, _ := ff.Session.APIID.Get(); id != SeedAPIID || !strings.HasPrefix(filepath.Base(f), "seed") {
			t.Errorf("%s: api_id %d", f, id)
		}
	}
}

// TestListenAddrKept: no file, DefaultAddr; a saved address comes back
// (kept) unless another is asked for; a file that is no address is an
// error naming the file.
func TestListenAddrKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if a, kept, err := ListenAddr(dir, ""); a != DefaultAddr || kept || err != nil {
		t.Fatalf("fresh: %q %v %v", a, kept, err)
	}
	if err := SaveListenAddr(dir, "127.0.0.1:4242"); err != nil {
		t.Fatal(err)
	}
	if a, kept, err := ListenAddr(dir, ""); a != "127.0.0.1:4242" || !kept || err != nil {
		t.Fatalf("saved: %q %v %v", a, kept, err)
	}
	if a, kept, err := ListenAddr(dir, "127.0.0.1:5555"); a != "127.0.0.1:5555" || kept || err != nil {
		t.Fatalf("given: %q %v %v", a, kept, err)
	}
	if err := os.WriteFile(filepath.Join(dir, listenAddrFile), []byte("nonsense\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ListenAddr(dir, ""); err == nil || !strings.Contains(err.Error(), listenAddrFile) {
		t.Fatalf("bad file: %v", err)
	}
}
