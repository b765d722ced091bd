package mtproto

import (
	"bytes"
	"context"
	"crypto/rsa"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

func serverOptions(srv *devserver.Server) Options {
	return Options{
		Server:         Server{DC: srv.DC(), Addr: srv.Addr(), PublicKeys: []*rsa.PublicKey{srv.PublicKey()}},
		APIID:          mttest.APIID,
		APIHash:        mttest.APIHash,
		ConnectTimeout: mttest.ConnectTimeout(),
	}
}

func row(t testing.TB, s storage.Storage) storage.SessionRow {
	t.Helper()
	r, err := s.Session()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// loginBot logs a fresh memory store in as a new bot of srv.
func loginBot(t *testing.T, srv *devserver.Server) (*storage.Memory, Identity) {
	t.Helper()
	_, token, err := srv.AddBot("testbot")
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	id, err := LoginBot(t.Context(), store, token, serverOptions(srv))
	if err != nil {
		t.Fatalf("LoginBot: %v", err)
	}
	return store, id
}

// runSelf connects a client over store and asks for the logged-in user.
func runSelf(ctx context.Context, store storage.Storage, opts Options) (Identity, error) {
	c, err := NewClient(store, opts)
	if err != nil {
		return Identity{}, err
	}
	var id Identity
	err = c.Run(ctx, func(ctx context.Context) error {
		var err error
		id, err = c.Self(ctx)
		return err
	})
	return id, err
}

// failingStore is a store whose Session fails, like a sealed file that no
// longer opens.
type failingStore struct {
	storage.Storage
	err error
}

func (f failingStore) Session() (storage.SessionRow, error) { return storage.SessionRow{}, f.err }

// xorSealer is a test sealer: not encryption, but not plaintext either.
type xorSealer struct{}

func (xorSealer) Seal(p []byte) ([]byte, error) { return xor(p), nil }
func (xorSealer) Open(c []byte) ([]byte, error) { return xor(c), nil }

func xor(b []byte) []byte {
	out := bytes.Clone(b)
	for i := range out {
		out[i] ^= 0x5a
	}
	return out
}

func createFile(t *testing.T) (string, *storage.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "acct.age")
	f, err := storage.CreateFile(path, xorSealer{}, testBinding, &storage.Snapshot{Session: storage.SessionRow{DCID: 2}}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return path, f
}

var testBinding = storage.Binding{VaultID: "v1", AccountID: "a1", Revision: 1}

// keyLog records OnKeyLost calls.
type keyLog struct {
	mu    sync.Mutex
	calls [][2]sessionstring.KeyID
}

func (k *keyLog) record(old, new sessionstring.KeyID) {
	k.mu.Lock()
	k.calls = append(k.calls, [2]sessionstring.KeyID{old, new})
	k.mu.Unlock()
}

func (k *keyLog) get() [][2]sessionstring.KeyID {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([][2]sessionstring.KeyID(nil), k.calls...)
}

var errBroken = errors.New("test: store broken")
