package pgvault

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

const vectors = "../../testdata/vectors"

var testPass = crypto.Passphrase("correct horse battery staple")

// newBackend opens a backend on a fresh database.
func newBackend(t testing.TB) (*Backend, string) {
	t.Helper()
	dsn := pgtest.Database(t)
	b := openDSN(t, dsn)
	t.Cleanup(b.Close)
	return b, dsn
}

// openDSN opens a backend on a DSN in pgx's keyword form.
func openDSN(t testing.TB, dsn string) *Backend {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	b, err := OpenConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return b
}

// newVault makes a vault in a fresh database, unlocked by its passphrase
// for this process.
func newVault(t testing.TB) (*vault.Vault, *Backend) {
	t.Helper()
	testhooks.SetScryptWorkFactor(t, 10)
	b, _ := newBackend(t)
	v, err := vault.Init(vault.InitOptions{Options: vault.Options{Backend: b, Passphrase: testPass}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return v, b
}

// TestVaultInPostgres: the vault works the same on the database: import,
// list, export, open and save, rename, remove, passwd, rekey, doctor.
func TestVaultInPostgres(t *testing.T) {
	v, b := newVault(t)
	if _, err := vault.Init(vault.InitOptions{Options: vault.Options{Backend: b}, NoKeyring: true}, testPass); !errors.Is(err, vault.ErrExists) {
		t.Errorf("second Init = %v, want ErrExists", err)
	}
	src := filepath.Join(vectors, "pyrogram/pyrogram_v3.session")
	if _, err := v.ImportFile(src, vault.ImportOptions{Name: "a"}); err != nil {
		t.Fatalf("import a: %v", err)
	}
	for i, n := range []string{"b", "c"} {
		if _, err := v.Import(variantSession(t, i+1), "", vault.ImportOptions{Name: n}); err != nil {
			t.Fatalf("import %s: %v", n, err)
		}
	}
	list, err := v.List()
	if err != nil || len(list) != 3 {
		t.Fatalf("List = %d, %v", len(list), err)
	}
	s, err := v.Export("a", sessionstring.Pyrogram, false)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := sessionstring.DecodeAs(sessionstring.Pyrogram, s)
	if err != nil || !bytes.Equal(ss.AuthKey.Bytes(), vectorKey()) {
		t.Fatalf("exported session does not carry the key: %v", err)
	}

	files, errs, err := v.OpenAccounts(list, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if errs[i] != nil {
			t.Fatalf("open %s: %v", list[i].Name, errs[i])
		}
		if err := v.Commit(f, func() error { return f.SetMeta("x", []byte("1")) }); err != nil {
			t.Fatalf("commit %s: %v", list[i].Name, err)
		}
		f.Close()
	}
	if a, _ := v.Show("a"); a.Revision != 2 {
		t.Errorf("revision after a commit = %d, want 2", a.Revision)
	}
	if err := v.Rename("c", "d"); err != nil {
		t.Fatal(err)
	}
	if err := v.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if names, _ := b.List("accounts"); len(names) != 2 {
		t.Errorf("%d account blobs after a remove, want 2", len(names))
	}
	if err := v.Passwd(testPass, crypto.Passphrase("new pass")); err != nil {
		t.Fatal(err)
	}
	if err := v.Rekey(crypto.Passphrase("new pass")); err != nil {
		t.Fatalf("Rekey: %v", err)
	}
	// After the rekey only the new identity opens it: by passphrase.
	v2, err := vault.Open(vault.Options{Backend: b, Passphrase: crypto.Passphrase("new pass")})
	if err != nil {
		t.Fatal(err)
	}
	if l, err := v2.List(); err != nil || len(l) != 2 || l[1].Name != "d" {
		t.Fatalf("List after rekey = %+v, %v", l, err)
	}
	if _, err := v2.Export("d", sessionstring.Pyrogram, false); err != nil {
		t.Errorf("export after rekey: %v", err)
	}
	for _, c := range v2.Doctor() {
		if !c.OK {
			t.Errorf("doctor: %s: %s", c.Name, c.Detail)
		}
	}
	st, err := v2.Status()
	if err != nil || st.Accounts != 2 || !strings.HasPrefix(st.Dir, "postgres://") {
		t.Errorf("Status = %+v, %v", st, err)
	}
	noSecrets(t, b)
}

// noSecrets fails t if any blob holds the vectors' key or the passphrases
// in plaintext.
func noSecrets(t testing.TB, b *Backend) {
	t.Helper()
	key := vectorKey()
	needles := [][]byte{[]byte(testPass), []byte("new pass")}
	for i := 0; i+16 <= len(key); i += 16 {
		needles = append(needles, key[i:i+16])
	}
	ctx := context.Background()
	for _, n := range needles {
		var hits int
		if err := b.db.QueryRow(ctx, `SELECT count(*) FROM tgvault_blobs WHERE position($1::bytea in data) > 0`, n).Scan(&hits); err != nil {
			t.Fatal(err)
		}
		if hits > 0 {
			t.Errorf("%d blobs hold a secret in plaintext", hits)
		}
	}
}

func vectorKey() []byte {
	k := make([]byte, 256)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// TestWriteLockFenced: a holder whose lock expired and was taken over
// cannot write any more; the database refuses it.
func TestWriteLockFenced(t *testing.T) {
	a, dsn := newBackend(t)
	if err := a.Prepare(); err != nil {
		t.Fatal(err)
	}
	b := openDSN(t, dsn)
	defer b.Close()
	b.lockWait = 200 * time.Millisecond
	relA, err := a.Lock(vault.LockWrite, vault.ThisProcess(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Write("index.age", []byte("one")); err != nil {
		t.Fatal(err)
	}
	var be *vault.BusyError
	if _, err := b.Lock(vault.LockWrite, vault.LockHolder{PID: 7, Command: "other"}); !errors.As(err, &be) || be.Holder.PID == 0 {
		t.Fatalf("second Lock = %v, want a BusyError naming the holder", err)
	}
	if err := b.Write("index.age", []byte("x")); !errors.Is(err, ErrFenced) {
		t.Errorf("write without the lock = %v, want ErrFenced", err)
	}
	// a stalls past its lock's expiry; b takes over.
	if _, err := a.db.Exec(context.Background(), `UPDATE tgvault_locks SET expires = now() - interval '1 second' WHERE name = 'lock'`); err != nil {
		t.Fatal(err)
	}
	relB, err := b.Lock(vault.LockWrite, vault.LockHolder{PID: 7, Command: "other"})
	if err != nil {
		t.Fatalf("Lock after expiry: %v", err)
	}
	if err := a.Write("index.age", []byte("stale")); !errors.Is(err, ErrFenced) {
		t.Errorf("stale holder's write = %v, want ErrFenced", err)
	}
	if err := a.Remove("index.age"); !errors.Is(err, ErrFenced) {
		t.Errorf("stale holder's remove = %v, want ErrFenced", err)
	}
	if err := b.Write("index.age", []byte("two")); err != nil {
		t.Fatal(err)
	}
	_ = relA() // releases nothing of b's
	if got, _ := b.Read("index.age"); string(got) != "two" {
		t.Errorf("index = %q, want two", got)
	}
	if _, held := b.Probe(vault.LockWrite); !held {
		t.Error("the stale holder's release freed the new holder's lock")
	}
	if err := relB(); err != nil {
		t.Fatal(err)
	}
	if _, held := b.Probe(vault.LockWrite); held {
		t.Error("lock still held after release")
	}
	if _, err := b.Read("slots/none.age"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing blob = %v, want fs.ErrNotExist", err)
	}
}

// TestEmptyDatabase: Open of a database without a vault says so.
func TestEmptyDatabase(t *testing.T) {
	b, _ := newBackend(t)
	if _, err := vault.Open(vault.Options{Backend: b}); !errors.Is(err, vault.ErrNotInitialized) {
		t.Errorf("Open = %v, want ErrNotInitialized", err)
	}
}

// TestRedact: no password reaches a location or an error.
func TestRedact(t *testing.T) {
	for _, loc := range []string{
		"postgres://u:hunter2@db.example/v",
		"postgres://u@db.example/v?password=hunter2",
		"postgres://u:hunter2@db.example:notaport/v",
	} {
		if r := Redact(loc); strings.Contains(r, "hunter2") {
			t.Errorf("Redact(%q) = %q", loc, r)
		}
		_, err := Open(context.Background(), loc)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%q) = %v", loc, err)
		}
	}
	if _, err := Open(context.Background(), "/var/lib/tgvault"); !errors.Is(err, ErrNotPostgres) {
		t.Errorf("Open(dir) = %v", err)
	}
}

// TestConcurrentWriters: vaults in two processes' shoes importing at once
// lose no account (the write lock serialises them).
func TestConcurrentWriters(t *testing.T) {
	v, b := newVault(t)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each its own backend: its own connections and lock state.
			bw, err := OpenConfig(context.Background(), b.db.Config())
			if err != nil {
				errs <- err
				return
			}
			defer bw.Close()
			vw, err := vault.Open(vault.Options{Backend: bw, Passphrase: testPass})
			if err != nil {
				errs <- err
				return
			}
			for i := range 3 {
				if _, err := vw.Import(variantSession(t, 1+w*3+i), "", vault.ImportOptions{Name: string(rune('a'+w)) + string(rune('0'+i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l, err := v.List(); err != nil || len(l) != 12 {
		t.Errorf("List = %d accounts, %v; want 12", len(l), err)
	}
}

func importName(n string) vault.ImportOptions { return vault.ImportOptions{Name: n} }

// variantSession is the vectors' Pyrogram string with the last byte of
// the key changed by n: another key (one key, one account), whose other
// bytes noSecrets still finds.
func variantSession(t testing.TB, n int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, "pyrogram/session_string_v3.txt"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := sessionstring.Decode(string(b))
	if err != nil {
		t.Fatal(err)
	}
	k := vectorKey()
	k[255] ^= byte(n)
	s := d.Session
	if s.AuthKey, err = sessionstring.NewAuthKey(k); err != nil {
		t.Fatal(err)
	}
	out, err := sessionstring.Encode(sessionstring.Pyrogram, s)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}

// TestMigrate: a directory vault copied into the database opens there
// with the same passphrase, with the same accounts and keys. The
// directory is marked: run, export and import refuse it naming the
// database (a rolled-back index does not unmark it: each account file
// says migrated), unless forced. Migrating again into the same database
// finishes (a no-op here); into another vault is refused.
func TestMigrate(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	dir := filepath.Join(t.TempDir(), "v")
	src, err := vault.Init(vault.InitOptions{Options: vault.Options{Dir: dir, Passphrase: testPass}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), importName("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Import(variantSession(t, 1), "", importName("b")); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, name := range []string{"a", "b"} {
		want[name], _ = src.Export(name, sessionstring.Pyrogram, false)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "index.age"))
	b, _ := newBackend(t)
	n, err := src.MigrateTo(b)
	if err != nil || n != 2 {
		t.Fatalf("MigrateTo = %d, %v", n, err)
	}
	dst, err := vault.Open(vault.Options{Backend: b, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	if dst.ID() != src.ID() {
		t.Errorf("vault id %s, want %s (the keyring entry is by id)", dst.ID(), src.ID())
	}
	for _, name := range []string{"a", "b"} {
		got, err := dst.Export(name, sessionstring.Pyrogram, false)
		if err != nil || got != want[name] {
			t.Errorf("%s: export from the copy differs (%v)", name, err)
		}
	}
	// The directory refuses, naming the database.
	refused := func(what string, err error) {
		t.Helper()
		var me *vault.MigratedError
		if !errors.As(err, &me) || me.To != b.Location() || !strings.Contains(err.Error(), b.Location()) {
			t.Errorf("%s on the migrated directory: %v, want a *MigratedError naming %s", what, err, b.Location())
		}
	}
	check := func() {
		t.Helper()
		_, err := src.Export("a", sessionstring.Pyrogram, false)
		refused("Export", err)
		_, err = src.Import(variantSession(t, 2), "", importName("c"))
		refused("Import", err)
		_, err = src.MigratedTo()
		if err != nil {
			t.Error(err)
		}
		list, _ := src.List()
		files, errs, _ := src.OpenAccounts(list, nil)
		for i := range list {
			if files[i] != nil {
				files[i].Close()
				t.Errorf("%s: the directory would serve it", list[i].Name)
			} else if !errors.Is(errs[i], vault.ErrMigrated) {
				t.Errorf("%s: %v, want ErrMigrated", list[i].Name, errs[i])
			}
		}
	}
	check()
	// An index rolled back to before the migration does not unmark it.
	if err := os.WriteFile(filepath.Join(dir, "index.age"), before, 0o600); err != nil {
		t.Fatal(err)
	}
	if to, _ := src.MigratedTo(); to != "" {
		t.Fatal("the rolled-back index is marked (the test needs it unmarked)")
	}
	list, _ := src.List()
	files, errs, _ := src.OpenAccounts(list, nil)
	for i := range list {
		if files[i] != nil || !errors.Is(errs[i], vault.ErrMigrated) {
			t.Errorf("%s after an index rollback: %v, want ErrMigrated", list[i].Name, errs[i])
		}
	}
	// Again into the same database: it finishes (marks the index again).
	if n, err := src.MigrateTo(b); err != nil || n != 2 {
		t.Errorf("second MigrateTo into the same database = %d, %v", n, err)
	}
	check()
	// Into another vault: refused.
	other, _ := newVault(t)
	_ = other
	ob := other.Backend()
	if _, err := src.MigrateTo(ob); !errors.Is(err, vault.ErrMigrated) && !errors.Is(err, vault.ErrExists) {
		t.Errorf("MigrateTo another vault = %v", err)
	}
	// --force uses the directory anyway.
	forced, _ := vault.Open(vault.Options{Dir: dir, Passphrase: testPass})
	forced.AllowMigrated()
	if got, err := forced.Export("a", sessionstring.Pyrogram, false); err != nil || got != want["a"] {
		t.Errorf("forced Export: %v", err)
	}
	if got, err := src.Export("b", sessionstring.Pyrogram, true); err != nil || got != want["b"] {
		t.Errorf("Export --force: %v", err)
	}
	noSecrets(t, b)
}
