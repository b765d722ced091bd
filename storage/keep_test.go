package storage

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
)

// keepKey is keepingSealer's FileKey: a number, and whether it was
// destroyed.
type keepKey struct {
	n         int
	destroyed bool
}

func (k *keepKey) Destroy() { k.destroyed = true }

// keepingSealer is a KeepingSealer over testSealer that records which key
// each seal was given, and makes a new key (numbered) when it gets none.
type keepingSealer struct {
	*testSealer
	mu    sync.Mutex
	made  []*keepKey
	given []FileKey // the key each SealKeeping got
}

func (s *keepingSealer) newKey() *keepKey {
	k := &keepKey{n: len(s.made) + 1}
	s.made = append(s.made, k)
	return k
}

func (s *keepingSealer) OpenKeeping(c []byte) ([]byte, FileKey, error) {
	p, err := s.Open(c)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return p, s.newKey(), nil
}

func (s *keepingSealer) SealKeeping(p []byte, k FileKey) ([]byte, FileKey, error) {
	c, err := s.Seal(p)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.given = append(s.given, k)
	if kk, ok := k.(*keepKey); ok && !kk.destroyed {
		return c, k, err
	}
	return c, s.newKey(), err
}

// TestFileKeepsSealerKey: a File with a KeepingSealer hands every save the
// key of its open (or of its first seal), and destroys it at Close and
// when the open fails after decrypting.
func TestFileKeepsSealerKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := &keepingSealer{testSealer: newTestSealer(t)}
	b := Binding{VaultID: "v", AccountID: "a", Revision: 1}
	f, err := CreateFile(filepath.Join(dir, "a.age"), s, b, &Snapshot{Session: testRow(t), Peers: vectorPeers()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetMeta("k", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if len(s.made) != 1 || len(s.given) != 2 || s.given[0] != nil || s.given[1] != FileKey(s.made[0]) {
		t.Fatalf("create and one save: made %d keys, given %v", len(s.made), s.given)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !s.made[0].destroyed {
		t.Error("Close left the key")
	}

	f, err = OpenFile(f.Path(), s, Binding{VaultID: "v", AccountID: "a", Revision: 2}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	opened := s.made[1]
	for i := range 3 {
		if err := f.SetMeta("k", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	var batch SaveBatch
	if err := f.CacheMeta("c", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := f.FlushIn(&batch); err != nil {
		t.Fatal(err)
	}
	if failed := batch.Sync(); failed != nil {
		t.Fatal(failed)
	}
	for _, k := range s.given[2:] {
		if k != FileKey(opened) {
			t.Fatalf("a save after the open was given %v, want the open's key", k)
		}
	}
	if len(s.made) != 2 {
		t.Errorf("%d keys made, want 2 (one per open or create)", len(s.made))
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if !opened.destroyed {
		t.Error("Close left the open's key")
	}

	// An open refused after decrypting (a rollback) destroys its key.
	if _, err := OpenFile(f.Path(), s, Binding{VaultID: "v", AccountID: "a", Revision: 99}, Options{}); !errors.Is(err, ErrBinding) {
		t.Fatalf("rolled back: %v", err)
	}
	if k := s.made[len(s.made)-1]; !k.destroyed {
		t.Error("a refused open left its key")
	}

	// A store made in a batch and abandoned (import's failed batch)
	// destroys the key its first seal made, as Close does.
	var staged SaveBatch
	g, err := CreateIn(&staged, FileBlob(filepath.Join(dir, "b.age")), s, Binding{VaultID: "v", AccountID: "b", Revision: 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	made := s.made[len(s.made)-1]
	g.Abandon()
	if !made.destroyed {
		t.Error("Abandon left the key")
	}
}
