package vault

import (
	"errors"
	"testing"

	"github.com/tgvault/tgvault/storage"
)

// TestUpdateAccount: UpdateAccount's writes are saved sealed (a fresh
// open reads them, at a new revision), and nothing is written while
// another process holds the account.
func TestUpdateAccount(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "telethon/string_session.txt"), "", ImportOptions{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	before, err := tv.Show("k")
	if err != nil {
		t.Fatal(err)
	}
	if err := tv.UpdateAccount("k", func(f *storage.File) error { return f.SetMeta("test.key", []byte("v1")) }); err != nil {
		t.Fatal(err)
	}
	after, _ := tv.Show("k")
	if after.Revision <= before.Revision {
		t.Errorf("revision %d -> %d: the index was not updated", before.Revision, after.Revision)
	}
	meta := func() string {
		t.Helper()
		f, err := tv.OpenAccount("k")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b, _, err := f.Meta("test.key")
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := meta(); got != "v1" {
		t.Fatalf("after UpdateAccount the meta key holds %q", got)
	}

	taken, _, err := tv.be.LockAccounts([]string{after.ID}, LockHolder{PID: 4242, Command: "tgvault run"})
	if err != nil {
		t.Fatal(err)
	}
	called := false
	err = tv.UpdateAccount("k", func(f *storage.File) error { called = true; return f.SetMeta("test.key", []byte("v2")) })
	if !errors.Is(err, ErrHeldByRun) || called {
		t.Errorf("while run holds the account: %v (fn called %v), want ErrHeldByRun", err, called)
	}
	for _, rel := range taken {
		_ = rel()
	}
	if got := meta(); got != "v1" {
		t.Errorf("the held account's meta key holds %q, want v1", got)
	}
	if err := tv.UpdateAccount("nobody", func(*storage.File) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}
