package pgvault

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// randomSession is a Pyrogram string with a fresh key.
func randomSession(t *testing.T, uid int64) string {
	t.Helper()
	k := make([]byte, 256)
	_, _ = rand.Read(k)
	ak, err := sessionstring.NewAuthKey(k)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sessionstring.Encode(sessionstring.Pyrogram, sessionstring.Session{DCID: 2, APIID: sessionstring.Some[int32](12345),
		TestMode: sessionstring.Some(false), AuthKey: ak, UserID: sessionstring.Some(uid), IsBot: sessionstring.Some(false)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rawWrite writes a blob as someone with SQL access to the database
// does: no lock, no lease.
func rawWrite(t *testing.T, b *Backend, name string, data []byte) {
	t.Helper()
	_, err := b.db.Exec(context.Background(), `INSERT INTO tgvault_blobs (name, data) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data, updated = now()`, name, data)
	if err != nil {
		t.Fatal(err)
	}
}

// TestForgedBlobsRefused: the database holds the same sealed blobs as a
// directory, and gets the same authentication: an account blob, an index
// or a vault.json written by someone who can write the database but does
// not hold the vault identity is refused with ErrCorrupt, and the other
// accounts go on.
func TestForgedBlobsRefused(t *testing.T) {
	v, b := newVault(t)
	want := map[string]string{}
	for i, n := range []string{"a", "b"} {
		s := randomSession(t, int64(1000+i))
		if _, err := v.Import([]byte(s), "", vault.ImportOptions{Name: n}); err != nil {
			t.Fatal(err)
		}
		want[n] = s
	}
	var meta struct {
		VaultID    string   `json:"vault_id"`
		Recipients []string `json:"recipients"`
	}
	metaBlob, _ := b.Read("vault.json")
	if err := json.Unmarshal(metaBlob, &meta); err != nil {
		t.Fatal(err)
	}
	pub, _ := crypto.ParseRecipient(meta.Recipients[0])
	attacker, _ := crypto.GenerateIdentity()
	plainSealer, _ := crypto.NewSealer([]*crypto.Identity{attacker}, []*crypto.Recipient{pub})
	list, _ := v.List()
	a := list[0]
	other := func() {
		t.Helper()
		if got, err := v.Export("b", sessionstring.Pyrogram, false); err != nil || got != want["b"] {
			t.Errorf("account b: %v", err)
		}
	}

	// An account blob of the attacker's own, bound here, revision ahead.
	name := "accounts/" + a.ID + ".age"
	genuine, _ := b.Read(name)
	ak, _ := sessionstring.NewAuthKey(make([]byte, 256))
	snap := &storage.Snapshot{Session: storage.SessionRow{DCID: 2, APIID: sessionstring.Some[int32](1), TestMode: sessionstring.Some(false),
		AuthKey: ak, UserID: sessionstring.Some[int64](31337), IsBot: sessionstring.Some(false)}}
	forgedImg := &memBlob{}
	f, err := storage.CreateBlob(forgedImg, plainSealer, storage.Binding{VaultID: meta.VaultID, AccountID: a.ID, Revision: a.Revision + 10}, snap, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	rawWrite(t, b, name, forgedImg.data)
	if _, err := v.Export("a", sessionstring.Pyrogram, false); !errors.Is(err, vault.ErrCorrupt) {
		t.Errorf("forged account blob: Export = %v, want ErrCorrupt", err)
	}
	files, errs, err := v.OpenAccounts(list, func(acct vault.Account) storage.Blob { return b.Blob("accounts/" + acct.ID + ".age") })
	if err != nil || files[0] != nil || !errors.Is(errs[0], vault.ErrCorrupt) || files[1] == nil {
		t.Errorf("OpenAccounts: %v, %v", errs, err)
	}
	for _, f := range files {
		if f != nil {
			_ = f.Close()
		}
	}
	other()
	rawWrite(t, b, name, genuine)

	// The index and vault.json.
	for _, blob := range []string{"index.age", "vault.json"} {
		t.Run(blob, func(t *testing.T) {
			genuine, _ := b.Read(blob)
			var forged []byte
			if blob == "vault.json" {
				forged = []byte(fmt.Sprintf(`{"format":2,"vault_id":%q,"recipients":[%q],"mac":"00"}`, meta.VaultID, attacker.Recipient()))
			} else {
				// The real index's content, re-sealed to the public key
				// (the test reads it with the identity: a stronger
				// attacker than a real one).
				slot, _ := b.Read("slots/passphrase.age")
				idText, err := crypto.OpenPassphrase(slot, testPass)
				if err != nil {
					t.Fatal(err)
				}
				id, _ := crypto.ParseIdentity(string(idText))
				plain, err := crypto.Open(genuine, id)
				if err != nil {
					t.Fatal(err)
				}
				forged, _ = crypto.Seal(plain, pub)
			}
			rawWrite(t, b, blob, forged)
			w, err := vault.Open(vault.Options{Backend: b, Passphrase: testPass})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.List(); !errors.Is(err, vault.ErrCorrupt) {
				t.Errorf("List = %v, want ErrCorrupt", err)
			}
			rawWrite(t, b, blob, genuine)
			if _, err := w.List(); err != nil {
				t.Errorf("List with the genuine %s back: %v", blob, err)
			}
		})
	}
	other()
}

// memBlob is a storage.Blob in memory: where the attacker builds a file.
type memBlob struct{ data []byte }

func (m *memBlob) Name() string                  { return "forged" }
func (m *memBlob) ReadBlob() ([]byte, error)     { return m.data, nil }
func (m *memBlob) WriteBlob(sealed []byte) error { m.data = sealed; return nil }

// TestUpgradeFormat1InPostgres: a format-1 vault in the database (as
// `migrate` of tgvault before authentication left it) reads as it is and
// is upgraded by its next write, like a directory.
func TestUpgradeFormat1InPostgres(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	const fixture = "../../testdata/vault-format1"
	b, _ := newBackend(t)
	if err := b.Prepare(); err != nil {
		t.Fatal(err)
	}
	var names []string
	err := filepath.WalkDir(filepath.Join(fixture, "vault"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(fixture, "vault"), p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rawWrite(t, b, filepath.ToSlash(rel), data)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	idText, _ := os.ReadFile(filepath.Join(fixture, "identity.txt"))
	ids, err := crypto.ParseIdentities(strings.NewReader(string(idText)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.Open(vault.Options{Backend: b, Identity: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	before, err := v.List()
	if err != nil || len(before) != 4 || v.Format() != 1 {
		t.Fatalf("List = %d, %v; format %d", len(before), err, v.Format())
	}
	alice, err := v.Export("alice", sessionstring.Pyrogram, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Rename("dave", "david"); err != nil {
		t.Fatal(err)
	}
	if v.Format() != 2 {
		t.Fatalf("format %d after a write", v.Format())
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".age") || strings.HasPrefix(n, "slots/") {
			continue
		}
		data, _ := b.Read(n)
		if !crypto.Authenticated(data) {
			t.Errorf("%s is not authenticated after the upgrade", n)
		}
	}
	w, _ := vault.Open(vault.Options{Backend: b, Passphrase: crypto.Passphrase(mustRead(t, filepath.Join(fixture, "passphrase.txt")))})
	if got, err := w.Export("alice", sessionstring.Pyrogram, false); err != nil || got != alice {
		t.Errorf("alice after the upgrade: %v", err)
	}
	if _, err := w.Export("david", sessionstring.Pyrogram, false); err != nil {
		t.Errorf("david after the upgrade: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
