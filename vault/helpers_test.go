package vault

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/storage/foreign"
)

// fakeKeyring is an in-memory Keyring.
type fakeKeyring struct {
	mu  sync.Mutex
	m   map[string]string
	err error // returned by every call when set
}

var _ Keyring = (*fakeKeyring)(nil)

func newFakeKeyring() *fakeKeyring { return &fakeKeyring{m: map[string]string{}} }

func (k *fakeKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return "", k.err
	}
	s, ok := k.m[service+"/"+user]
	if !ok {
		return "", ErrKeyringNotFound
	}
	return s, nil
}

func (k *fakeKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	k.m[service+"/"+user] = secret
	return nil
}

func (k *fakeKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	if _, ok := k.m[service+"/"+user]; !ok {
		return ErrKeyringNotFound
	}
	delete(k.m, service+"/"+user)
	return nil
}

func (k *fakeKeyring) secret(user string) (string, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.m[KeyringService+"/"+user]
	return s, ok
}

// testPass is the passphrase of test vaults; the secret scan looks for it.
var testPass = crypto.Passphrase("correct horse battery staple 7c1e")

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testVault is an initialised, unlocked vault in a temp dir.
type testVault struct {
	*Vault
	kr    *fakeKeyring
	clock *clock
}

func newTestVault(t testing.TB) *testVault {
	t.Helper()
	testhooks.SetScryptWorkFactor(t, 10)
	kr, c := newFakeKeyring(), newClock()
	v, err := Init(InitOptions{Options: Options{Dir: filepath.Join(t.TempDir(), "vault"), Keyring: kr, Now: c.Now}}, testPass)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return &testVault{Vault: v, kr: kr, clock: c}
}

// reopen opens the same directory with other options (keyring and clock
// kept unless set).
func (tv *testVault) reopen(t testing.TB, o Options) *Vault {
	t.Helper()
	o.Dir = tv.Dir()
	if o.Now == nil {
		o.Now = tv.clock.Now
	}
	v, err := Open(o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return v
}

const vectors = "../testdata/vectors"

func vector(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(vectors, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vectorKey is the auth key of every vector: bytes 0..255.
func vectorKey() []byte {
	k := make([]byte, 256)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

var otherPass = crypto.Passphrase("hand-off passphrase 91d3")

// variantKey is the vectors' key with its last byte changed by n (1 to
// 255): another key, with another key id, whose other bytes the secret
// scan still looks for.
func variantKey(t testing.TB, n int) sessionstring.AuthKey {
	t.Helper()
	k := vectorKey()
	k[255] ^= byte(n)
	ak, err := sessionstring.NewAuthKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return ak
}

// variantFile writes the vectors' Pyrogram v3 file (peers and all) with
// variantKey(n) as a new file, and returns its path.
func variantFile(t testing.TB, n int) string {
	t.Helper()
	fg, err := foreign.ReadFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"))
	if err != nil {
		t.Fatal(err)
	}
	s := fg.Session
	s.AuthKey = variantKey(t, n)
	snap := &storage.Snapshot{
		Session: storage.SessionRow{DCID: s.DCID, APIID: s.APIID, TestMode: s.TestMode, AuthKey: s.AuthKey,
			Date: fg.Date, UserID: s.UserID, IsBot: s.IsBot},
		Peers: fg.Peers,
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("variant%d.session", n))
	if err := storage.WritePyrogramFile(p, snap); err != nil {
		t.Fatal(err)
	}
	return p
}

// variantString is the vectors' Pyrogram string with variantKey(n).
func variantString(t testing.TB, n int) []byte {
	t.Helper()
	d, err := sessionstring.Decode(string(vector(t, "pyrogram/session_string_v3.txt")))
	if err != nil {
		t.Fatal(err)
	}
	s := d.Session
	s.AuthKey = variantKey(t, n)
	out, err := sessionstring.Encode(sessionstring.Pyrogram, s)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(out)
}
