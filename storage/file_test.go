package storage

import (
	"bytes"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
)

func randomKey(t testing.TB) (sessionstring.AuthKey, []byte) {
	b := make([]byte, 256)
	if _, err := cryptoRead(b); err != nil {
		t.Fatal(err)
	}
	k, err := sessionstring.NewAuthKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k, b
}

var cryptoRead = cryptorand.Read

func newFile(t *testing.T, dir string, s Sealer, b Binding, snap *Snapshot) *File {
	t.Helper()
	f, err := CreateFile(filepath.Join(dir, b.AccountID+".age"), s, b, snap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestFileBinding(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newTestSealer(t)
	a := newFile(t, dir, s, Binding{VaultID: "v", AccountID: "a", Revision: 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()})
	b := newFile(t, dir, s, Binding{VaultID: "v", AccountID: "b", Revision: 1}, &Snapshot{Session: testRow(t)})
	// Keep a copy of a at revision 1, then move it on to revision 2.
	old, err := os.ReadFile(a.Path())
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetMeta("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if a.Revision() != 2 {
		t.Fatalf("revision after one save = %d, want 2", a.Revision())
	}
	a.Close()
	b.Close()

	cases := []struct {
		name   string
		path   string
		want   Binding
		reason string
	}{
		{"other account's file", b.Path(), Binding{"v", "a", 1}, "belongs to another account"},
		{"other vault", a.Path(), Binding{"w", "a", 1}, "belongs to another vault"},
		{"rolled back", a.Path(), Binding{"v", "a", 3}, "is older than expected (rolled back)"},
	}
	for _, c := range cases {
		_, err := OpenFile(c.path, s, c.want, Options{})
		var be *BindingError
		if !errors.As(err, &be) || !errors.Is(err, ErrBinding) || be.Reason != c.reason {
			t.Errorf("%s: got %v", c.name, err)
		}
	}
	// A swapped-in older copy is a rollback.
	if err := os.WriteFile(a.Path(), old, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFile(a.Path(), s, Binding{"v", "a", 2}, Options{}); !errors.Is(err, ErrBinding) {
		t.Errorf("old copy: %v", err)
	}
	// A file ahead of the index (crash between account and index writes)
	// opens and reports its revision, so the caller can repair its index.
	f, err := OpenFile(b.Path(), s, Binding{"v", "b", 0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Revision() != 1 {
		t.Errorf("revision %d", f.Revision())
	}
}

func TestFileOpenFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := newTestSealer(t)
	f := newFile(t, dir, s, Binding{VaultID: "v", AccountID: "a", Revision: 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()})
	f.Close()
	sealed, _ := os.ReadFile(f.Path())
	want := Binding{"v", "a", 1}

	if _, err := OpenFile(f.Path(), newTestSealer(t), want, Options{}); !errors.Is(err, errTestOpen) {
		t.Errorf("wrong key: %v, want the sealer's error passed through", err)
	}
	for i, mut := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)/2] ^= 1; return b },
		func(b []byte) []byte { return b[:len(b)-1] },
		func(b []byte) []byte { return append(b, 0) },
		func(b []byte) []byte { return b[:0] },
	} {
		p := filepath.Join(dir, fmt.Sprintf("m%d.age", i))
		os.WriteFile(p, mut(bytes.Clone(sealed)), 0o600)
		if _, err := OpenFile(p, s, want, Options{}); err == nil {
			t.Errorf("mutation %d opened", i)
		}
	}
	if _, err := OpenFile(filepath.Join(dir, "missing.age"), s, want, Options{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	// A sealed file that is not our image: sealed garbage, and a plain
	// Pyrogram image without a binding.
	garbage, _ := s.Seal([]byte("not a database"))
	os.WriteFile(filepath.Join(dir, "g.age"), garbage, 0o600)
	if _, err := OpenFile(filepath.Join(dir, "g.age"), s, want, Options{}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("sealed garbage: %v", err)
	}
	plain, _ := PlainPyrogram(&Snapshot{Session: testRow(t)})
	sp, _ := s.Seal(plain)
	os.WriteFile(filepath.Join(dir, "p.age"), sp, 0o600)
	if _, err := OpenFile(filepath.Join(dir, "p.age"), s, want, Options{}); !errors.Is(err, ErrBinding) {
		t.Errorf("unbound image: %v", err)
	}
	if _, err := CreateFile(f.Path(), s, want, &Snapshot{Session: testRow(t)}, Options{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("create over an existing file: %v", err)
	}
}

func TestFileBatchesPeersAndSavesSessionAtOnce(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	f := newFile(t, t.TempDir(), s, Binding{VaultID: "v", AccountID: "a", Revision: 1}, &Snapshot{Session: testRow(t)})
	seals := s.seals.Load()
	for i := range 50 {
		if err := f.UpdatePeers([]Peer{UserPeer(int64(i+1), 1, false, "", nil, "")}); err != nil {
			t.Fatal(err)
		}
	}
	if s.seals.Load() != seals {
		t.Fatal("peer writes were saved one by one")
	}
	// The file on disk still has no peers until Flush.
	g, err := OpenFile(f.Path(), s, Binding{"v", "a", 0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := g.PeerCount(); n != 0 {
		t.Fatalf("unflushed peers on disk: %d", n)
	}
	g.Close()
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil { // nothing to do
		t.Fatal(err)
	}
	if got := s.seals.Load() - seals; got != 1 {
		t.Fatalf("Flush sealed %d times, want 1", got)
	}
	// The same peers again (every connect brings the account's own
	// user): nothing to save.
	if err := f.UpdatePeers([]Peer{UserPeer(1, 1, false, "", nil, "")}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := s.seals.Load() - seals; got != 1 {
		t.Fatalf("an unchanged peer made a save (%d seals)", got)
	}
	r := testRow(t)
	r.DCID = 5
	if err := f.SetSession(r); err != nil {
		t.Fatal(err)
	}
	g, err = OpenFile(f.Path(), s, Binding{"v", "a", 0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if got, _ := g.Session(); got.DCID != 5 {
		t.Fatal("session change was not saved at once")
	}
	if n, _ := g.PeerCount(); n != 50 {
		t.Fatalf("peers after flush: %d", n)
	}
}

func TestFileModesAndNoPlaintextOnDisk(t *testing.T) {
	t.Parallel()
	start := time.Now().Add(-time.Second) // mtimes may be coarse
	dir := t.TempDir()
	s := newTestSealer(t)
	key, raw := randomKey(t)
	row := testRow(t)
	row.AuthKey = key
	f := newFile(t, dir, s, Binding{VaultID: "v", AccountID: "a", Revision: 1}, &Snapshot{Session: row, Peers: vectorPeers()})
	if err := f.UpdatePeers(randomPeers(2000, 3)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	g, err := OpenFile(f.Path(), s, Binding{"v", "a", 0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	g.SetMeta("x", []byte("y"))
	g.Close()
	st, err := os.Stat(f.Path())
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	// Of the shared temp directory only what changed during the test:
	// it holds whatever else ran on the machine (gigabytes on a busy one).
	for _, p := range append(findSecret(dir, raw, time.Time{}), findSecret(os.TempDir(), raw, start)...) {
		t.Errorf("%s holds auth key bytes in plaintext", p)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("leftover files beside the sealed file: %d entries", len(entries))
	}
}

// findSecret returns the regular files under root, modified at or after
// since, that hold 32 consecutive bytes of secret.
func findSecret(root string, secret []byte, since time.Time) (hits []string) {
	needle := secret[:32]
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if fi, err := d.Info(); err != nil || fi.ModTime().Before(since) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	return hits
}

// TestFindSecret is the scan's positive control: a planted key is found,
// in a file written now, and skipped in one older than since.
func TestFindSecret(t *testing.T) {
	dir := t.TempDir()
	_, raw := randomKey(t)
	planted := append(append([]byte("header"), raw[:40]...), "trailer"...)
	fresh, old := filepath.Join(dir, "fresh"), filepath.Join(dir, "sub", "old")
	if err := os.MkdirAll(filepath.Dir(old), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fresh, old, filepath.Join(dir, "clean")} {
		b := planted
		if filepath.Base(p) == "clean" {
			b = raw[1:32] // 31 bytes: below the window
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if got := findSecret(dir, raw, time.Time{}); len(got) != 2 {
		t.Errorf("findSecret without since = %v, want fresh and old", got)
	}
	if got := findSecret(dir, raw, time.Now().Add(-time.Minute)); len(got) != 1 || got[0] != fresh {
		t.Errorf("findSecret since a minute ago = %v, want only %s", got, fresh)
	}
}

// TestFileCrashDuringSave kills a child process that saves in a loop, at
// random moments, and checks that the file always opens whole.
func TestFileCrashDuringSave(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop skipped in -short mode")
	}
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGKILL")
	}
	dir := t.TempDir()
	key := make([]byte, 32)
	cryptorand.Read(key)
	s := &testSealer{key: key}
	path := filepath.Join(dir, "a.age")
	f, err := CreateFile(path, s, Binding{"v", "a", 1}, &Snapshot{Session: testRow(t), Meta: map[string][]byte{"n": []byte("0")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	kills := 12
	if v, err := strconv.Atoi(os.Getenv("TGVAULT_CRASH_KILLS")); err == nil {
		kills = v
	}
	r := mathrand(1)
	lastRev := uint64(1)
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileCrashChild$")
		cmd.Env = append(os.Environ(), "TGVAULT_CRASH_CHILD="+path, fmt.Sprintf("TGVAULT_CRASH_KEY=%x", key))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(20+r.IntN(150)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		g, err := OpenFile(path, s, Binding{"v", "a", lastRev}, Options{})
		if err != nil {
			t.Fatalf("kill %d: the file does not open: %v", i, err)
		}
		// Each save writes n peers and meta n together: they must agree.
		n, _, _ := g.Meta("n")
		count, _ := g.PeerCount()
		if strconv.Itoa(count) != string(n) {
			t.Fatalf("kill %d: torn state: %d peers, meta says %s", i, count, n)
		}
		lastRev = g.Revision()
		g.Close()
	}
	t.Logf("%d kills, file intact each time, final revision %d", kills, lastRev)
}

// TestFileCrashChild is the child of TestFileCrashDuringSave.
func TestFileCrashChild(t *testing.T) {
	path := os.Getenv("TGVAULT_CRASH_CHILD")
	if path == "" {
		t.Skip("child of TestFileCrashDuringSave")
	}
	var key []byte
	fmt.Sscanf(os.Getenv("TGVAULT_CRASH_KEY"), "%x", &key)
	s := &testSealer{key: key}
	f, err := OpenFile(path, s, Binding{"v", "a", 0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		n, _ := f.PeerCount()
		peers := make([]Peer, 500)
		for j := range peers {
			peers[j] = UserPeer(int64(n+j+1), 1, false, fmt.Sprint("u", n+j), nil, "")
		}
		if err := f.UpdatePeers(peers); err != nil {
			t.Fatal(err)
		}
		// SetMeta saves at once, peers included.
		if err := f.SetMeta("n", []byte(strconv.Itoa(n+500))); err != nil {
			t.Fatal(err)
		}
	}
}

func mathrand(seed uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
}

// TestFileReadingDoesNotWrite: opening a file and reading it (peers
// included) must not rewrite it on Close.
func TestFileReadingDoesNotWrite(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	f := newFile(t, t.TempDir(), s, Binding{VaultID: "v", AccountID: "a", Revision: 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()})
	f.Close()
	before, _ := os.ReadFile(f.Path())
	g, err := OpenFile(f.Path(), s, Binding{"v", "a", 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := g.PeerCount(); err != nil || n != 5 {
		t.Fatal(n, err)
	}
	if _, err := g.Snapshot(); err != nil {
		t.Fatal(err)
	}
	seals := s.seals.Load()
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(f.Path())
	if s.seals.Load() != seals || !bytes.Equal(before, after) || g.Revision() != 1 {
		t.Fatal("a read-only use rewrote the file")
	}
}

// TestFileSaveKeepsPeerPages: a save whose peers did not change since the
// last one keeps that image's peer pages and rewrites the rest; the file it
// writes is byte for byte the image a full build gives, valid for SQLite,
// and a save after a peer change patches the peer pages (the same content
// as a full build: TestPatchMatchesBuild).
func TestFileSaveKeepsPeerPages(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	f := newFile(t, t.TempDir(), s, Binding{"v", "a", 1}, &Snapshot{Session: testRow(t), Peers: randomPeers(5000, 5)})
	fileImage := func() []byte {
		t.Helper()
		sealed, err := os.ReadFile(f.Path())
		if err != nil {
			t.Fatal(err)
		}
		img, err := s.Open(sealed)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	check := func(what string) {
		t.Helper()
		if f.img == nil {
			t.Fatalf("%s: no peer pages kept after the save", what)
		}
		img := fileImage()
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeImage(snap, &f.binding)
		if err != nil {
			t.Fatal(err)
		}
		if what == "peers changed" {
			sameContent(t, img, want)
		} else if !bytes.Equal(img, want) {
			t.Fatalf("%s: the saved image differs from a full build", what)
		}
		db := openImageSQL(t, img)
		integrityCheck(t, db)
		if got := sqlPeerRows(t, db); !slices.Equal(sortedPeers(got), sortedPeers(snap.Peers)) {
			t.Fatalf("%s: peers in the image differ", what)
		}
		// The kept pages hold no secret: the session row was cleared.
		if k := testKey(t).AppendTo(nil); bytes.Contains(f.img.buf[:cap(f.img.buf)], k) {
			t.Fatalf("%s: the kept image still holds the auth key", what)
		}
	}
	check("create")
	kept := f.img
	r := testRow(t)
	r.Date++
	if err := f.SetSession(r); err != nil {
		t.Fatal(err)
	}
	if f.img != kept {
		t.Fatal("a session save rebuilt the peer pages")
	}
	check("session")
	if err := f.SetMeta("k", bytes.Repeat([]byte("m"), 10000)); err != nil { // overflow pages
		t.Fatal(err)
	}
	if err := f.SetUpdateStates([]UpdateState{{ID: 1, Pts: sessionstring.Some[int64](5)}}); err != nil {
		t.Fatal(err)
	}
	check("meta and update state")
	if err := f.SetMeta("k", nil); err != nil { // a shorter image than the last
		t.Fatal(err)
	}
	check("meta deleted")
	if err := f.UpdatePeers([]Peer{{ID: 42, Type: PeerUser, Username: "new_one"}}); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	check("peers changed")
	if p, err := f.PeerByUsername("new_one"); err != nil || p.ID != 42 {
		t.Fatal(p, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if f.img != nil {
		t.Fatal("peer pages kept after Close")
	}
	g, err := OpenFile(f.Path(), s, Binding{"v", "a", 0}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if n, err := g.PeerCount(); err != nil || n != 5001 {
		t.Fatal(n, err)
	}
}

// CacheMeta is batched like a peer write: not saved until Flush (or Close,
// or a save for another change), served by Meta meanwhile; the same value
// again is no change.
func TestFileCacheMeta(t *testing.T) {
	t.Parallel()
	s := newTestSealer(t)
	created := newFile(t, t.TempDir(), s, Binding{VaultID: "v", AccountID: "a", Revision: 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()})
	if err := created.Close(); err != nil {
		t.Fatal(err)
	}
	// Opened, its peers are read on first use: a save for the cached
	// value must not lose them.
	f, err := OpenFile(created.Path(), s, Binding{"v", "a", 1}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	onDisk := func() ([]byte, bool) {
		t.Helper()
		g, err := OpenFile(f.Path(), s, Binding{"v", "a", 0}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		v, ok, err := g.Meta("cfg")
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := g.PeerCount(); n != len(vectorPeers()) {
			t.Errorf("peers on disk: %d, want %d", n, len(vectorPeers()))
		}
		return v, ok
	}
	seals := s.seals.Load()
	if err := f.CacheMeta("cfg", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if s.seals.Load() != seals || f.Revision() != 1 {
		t.Fatal("CacheMeta saved at once")
	}
	if v, ok, err := f.Meta("cfg"); err != nil || !ok || string(v) != "one" {
		t.Fatalf("Meta after CacheMeta: %q %v %v", v, ok, err)
	}
	if _, ok := onDisk(); ok {
		t.Fatal("the cached value is on disk before Flush")
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := s.seals.Load() - seals; got != 1 || f.Revision() != 2 {
		t.Fatalf("Flush: %d seals, revision %d; want 1 and 2", got, f.Revision())
	}
	if v, ok := onDisk(); !ok || string(v) != "one" {
		t.Fatalf("on disk after Flush: %q %v", v, ok)
	}
	// The same value: nothing to save.
	if err := f.CacheMeta("cfg", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := s.seals.Load() - seals; got != 1 {
		t.Fatalf("an unchanged cached value made a save (%d seals)", got)
	}
	// A save for another change takes the cached value with it.
	if err := f.CacheMeta("cfg", []byte("two")); err != nil {
		t.Fatal(err)
	}
	if err := f.SetMeta("other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, _ := onDisk(); string(v) != "two" {
		t.Fatalf("on disk after another save: %q", v)
	}
	// Deleting is cached too, and Close saves it.
	if err := f.CacheMeta("cfg", nil); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := onDisk(); ok {
		t.Fatal("Close did not save the cached delete")
	}
}
