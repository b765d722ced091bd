package vault

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

func TestCreateAccount(t *testing.T) {
	t.Parallel()
	tv := newTestVault(t)
	b := make([]byte, sessionstring.AuthKeySize)
	for i := range b {
		b[i] = byte(i * 7)
	}
	key, err := sessionstring.NewAuthKey(b)
	if err != nil {
		t.Fatal(err)
	}
	snap := &storage.Snapshot{
		Session: storage.SessionRow{
			DCID: 2, APIID: sessionstring.Some[int32](1), TestMode: sessionstring.Some(false),
			AuthKey: key, UserID: sessionstring.Some[int64](42), IsBot: sessionstring.Some(true),
		},
		Meta: map[string][]byte{"tgvault.server": []byte(`{"addr":"127.0.0.1:1"}`)},
	}
	a, err := tv.CreateAccount("bot", snap, "login")
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	if uid, _ := a.UserID.Get(); uid != 42 || !a.IsBot.Or(false) || a.Status != StatusActive || a.Source != "login" {
		t.Errorf("account = %+v", a)
	}
	got, err := tv.Show("bot")
	if err != nil || got.ID != a.ID {
		t.Fatalf("Show: %+v, %v", got, err)
	}
	f, err := tv.OpenAccount("bot")
	if err != nil {
		t.Fatalf("OpenAccount: %v", err)
	}
	defer f.Close()
	row, err := f.Session()
	if err != nil || row.AuthKey.ID() != key.ID() {
		t.Errorf("stored key %v, %v", row.AuthKey.ID(), err)
	}
	if m, ok, _ := f.Meta("tgvault.server"); !ok || string(m) != `{"addr":"127.0.0.1:1"}` {
		t.Errorf("meta = %q, %v", m, ok)
	}

	// The same key (a seeded or copied session) under another name.
	var de *DuplicateKeyError
	if _, err := tv.CreateAccount("bot2", snap, "login"); !errors.As(err, &de) || de.Account != "bot" {
		t.Errorf("key in use: %v, want a *DuplicateKeyError naming bot", err)
	}
	other := *snap
	other.Session.AuthKey = variantKey(t, 9)
	if _, err := tv.CreateAccount("bot", &other, "login"); !errors.Is(err, ErrNameTaken) {
		t.Errorf("name in use: %v, want ErrNameTaken", err)
	}
	noKey := *snap
	noKey.Session.AuthKey = sessionstring.AuthKey{}
	if _, err := tv.CreateAccount("other", &noKey, "login"); !errors.Is(err, ErrBadInput) {
		t.Errorf("no key: %v, want ErrBadInput", err)
	}
	if _, err := tv.CreateAccount("", snap, "login"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("empty name: %v, want ErrInvalidName", err)
	}
	if l, _ := tv.List(); len(l) != 1 {
		t.Errorf("List: %d accounts, want 1", len(l))
	}
}

// TestCheckNewAccount: a login asks before it makes an authorization on
// the server: a name CreateAccount would refuse, or a locked vault, is an
// error then.
func TestCheckNewAccount(t *testing.T) {
	t.Parallel()
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "telethon/string_session.txt"), "", ImportOptions{Name: "taken"}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		want error
	}{
		{"fresh", nil},
		{"taken", ErrExists},
		{"", ErrInvalidName},
		{"tab\there", ErrInvalidName},
	} {
		if err := tv.CheckNewAccount(tt.name); !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CheckNewAccount(%q) = %v, want %v", tt.name, err, tt.want)
		}
	}
	locked := tv.reopen(t, Options{Keyring: newFakeKeyring()})
	if err := locked.CheckNewAccount("fresh"); !errors.Is(err, ErrLocked) {
		t.Errorf("locked vault: %v, want ErrLocked", err)
	}
	// A vault migrated elsewhere: CreateAccount would refuse it, so a login
	// must hear so before it makes an authorization on the server.
	if _, err := tv.MigrateTo(DirBackend(filepath.Join(t.TempDir(), "elsewhere"))); err != nil {
		t.Fatal(err)
	}
	if _, ok := errors.AsType[*MigratedError](tv.CheckNewAccount("fresh")); !ok {
		t.Errorf("migrated vault: %v, want a *MigratedError", tv.CheckNewAccount("fresh"))
	}
	tv.AllowMigrated()
	if err := tv.CheckNewAccount("fresh"); err != nil {
		t.Errorf("migrated vault with AllowMigrated: %v, want nil", err)
	}
}
