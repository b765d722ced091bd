package vault

import (
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// makeSessionFiles writes n plain Pyrogram .session files made from the
// vector, each with its own random key and user id.
func makeSessionFiles(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	f, err := storage.ReadForeignFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"))
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
	// A second run: every name exists.
	err = tv.ImportFiles(paths[:3], ImportOptions{}, nil)
	if !errors.Is(err, ErrExists) {
		t.Errorf("re-import: %v", err)
	}
}
