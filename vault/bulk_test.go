package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/storage/foreign"
)

// makeSessionFiles writes n plain Pyrogram .session files made from the
// vector, each with its own random key and user id.
func makeSessionFiles(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	f, err := foreign.ReadFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"))
	if err != nil {
		tb.Fatal(err)
	}
	paths := make([]string, n)
	for i := range n {
		b := make([]byte, sessionstring.AuthKeySize)
		rand.Read(b)
		k, err := sessionstring.NewAuthKey(b)
		if err != nil {
			tb.Fatal(err)
		}
		snap := &storage.Snapshot{
			Session: storage.SessionRow{
				DCID: 2, APIID: f.Session.APIID, TestMode: f.Session.TestMode, AuthKey: k,
				Date: f.Date, UserID: sessionstring.Some(int64(1000000 + i)), IsBot: f.Session.IsBot,
			},
			Peers: f.Peers,
		}
		paths[i] = filepath.Join(dir, fmt.Sprintf("acct%05d.session", i))
		if err := storage.WritePyrogramFile(paths[i], snap); err != nil {
			tb.Fatal(err)
		}
	}
	return paths
}

func TestImportFiles(t *testing.T) {
	tv := newTestVault(t)
	src := t.TempDir()
	paths := makeSessionFiles(t, src, 20)
	bad := filepath.Join(src, "bad.session")
	os.WriteFile(bad, []byte("SQLite format 3\x00 but not really"), 0o600)
	paths = append(paths[:10], append([]string{bad, filepath.Join(src, "missing.session")}, paths[10:]...)...)

	var calls, failed int
	err := tv.ImportFiles(paths, ImportOptions{}, func(done int, r ImportReport, err error) {
		calls++
		if done != calls {
			t.Errorf("progress done = %d at call %d", done, calls)
		}
		if err != nil {
			failed++
			return
		}
		if r.Peers != 5 || r.Source != "pyrogram-v3" || !r.PlaintextRemains {
			t.Errorf("report %+v", r)
		}
	})
	if err == nil || !strings.Contains(err.Error(), "2 of 22") || !errors.Is(err, ErrBadInput) {
		t.Fatalf("ImportFiles = %v", err)
	}
	if calls != 22 || failed != 2 {
		t.Errorf("progress calls %d, failed %d", calls, failed)
	}
	list, err := tv.List()
	if err != nil || len(list) != 20 {
		t.Fatalf("List: %d accounts, %v", len(list), err)
	}
	for _, a := range list {
		if a.Revision != 1 || a.Peers != 5 {
			t.Errorf("%+v", a)
		}
	}
	// Each account opens with its own key.
	f, err := tv.OpenAccount("acct00013")
	if err != nil {
		t.Fatal(err)
	}
	row, _ := f.Session()
	f.Close()
	if u, _ := row.UserID.Get(); u != 1000013 {
		t.Errorf("user id %d", u)
	}
	// A second run: every key is in the vault, each refused naming its
	// account; with SkipExisting each is reported so, and nothing fails.
	var dups []string
	err = tv.ImportFiles(paths[:3], ImportOptions{}, func(_ int, _ ImportReport, err error) {
		var de *DuplicateKeyError
		if errors.As(err, &de) {
			dups = append(dups, de.Account)
		}
	})
	if !errors.Is(err, ErrDuplicateKey) || strings.Join(dups, " ") != "acct00000 acct00001 acct00002" {
		t.Errorf("re-import: %v, duplicates %v", err, dups)
	}
	var existing []string
	err = tv.ImportFiles(paths[:3], ImportOptions{SkipExisting: true}, func(_ int, r ImportReport, err error) {
		if err == nil {
			existing = append(existing, r.Existing)
		}
	})
	if err != nil || strings.Join(existing, " ") != "acct00000 acct00001 acct00002" {
		t.Errorf("re-import with SkipExisting: %v, existing %v", err, existing)
	}
	// The same key twice among the files of one import: the first is
	// imported, the second refused naming it, before its file is written.
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh.session")
	os.Rename(makeSessionFiles(t, dir, 1)[0], fresh)
	twin := filepath.Join(dir, "twin.session")
	b, _ := os.ReadFile(fresh)
	os.WriteFile(twin, b, 0o600)
	before, _ := os.ReadDir(filepath.Join(tv.Dir(), accountsDir))
	dups = nil
	err = tv.ImportFiles([]string{fresh, twin}, ImportOptions{}, func(_ int, _ ImportReport, err error) {
		var de *DuplicateKeyError
		if errors.As(err, &de) {
			dups = append(dups, de.Account)
		}
	})
	if !errors.Is(err, ErrDuplicateKey) || strings.Join(dups, " ") != "fresh" {
		t.Errorf("twins: %v, duplicates %v", err, dups)
	}
	after, _ := os.ReadDir(filepath.Join(tv.Dir(), accountsDir))
	if len(after) != len(before)+1 {
		t.Errorf("account files %d -> %d, want one more", len(before), len(after))
	}
	if _, err := tv.Show("twin"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the twin is in the index: %v", err)
	}
}

// countingBackend is the vault's directory, counting the writes of the
// index.
type countingBackend struct {
	DirBackend
	indexWrites atomic.Int32
}

func (b *countingBackend) Write(name string, data []byte) error {
	if name == indexName {
		b.indexWrites.Add(1)
	}
	return b.DirBackend.Write(name, data)
}

// TestImportFilesBatches: 600 files are imported in three batches of
// paths, each written with one index write; every account is listed at
// revision 1 with its peers and opens, and no temp file is left.
func TestImportFilesBatches(t *testing.T) {
	tv := newTestVault(t)
	paths := makeSessionFiles(t, t.TempDir(), 2*importBatch+88)
	be := &countingBackend{DirBackend: DirBackend(tv.Dir())}
	v := tv.reopen(t, Options{Backend: be, Keyring: tv.kr})
	done := 0
	if err := v.ImportFiles(paths, ImportOptions{}, func(n int, r ImportReport, err error) {
		if err != nil || n != done+1 || r.Account.Revision != 1 {
			t.Errorf("file %d: %+v, %v", n, r.Account, err)
		}
		done = n
	}); err != nil {
		t.Fatal(err)
	}
	if n := be.indexWrites.Load(); n != 3 {
		t.Errorf("%d index writes for 3 batches, want 3", n)
	}
	list, err := tv.List()
	if err != nil || len(list) != len(paths) {
		t.Fatalf("List: %d accounts, %v", len(list), err)
	}
	for _, a := range list {
		if a.Revision != 1 || a.Peers != 5 {
			t.Fatalf("%+v", a)
		}
	}
	f, err := tv.OpenAccount(list[len(list)-1].Name)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	ents, err := os.ReadDir(filepath.Join(tv.Dir(), accountsDir))
	if err != nil || len(ents) != len(paths) {
		t.Fatalf("%d entries in accounts/, want %d: %v", len(ents), len(paths), err)
	}
}
