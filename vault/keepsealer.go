package vault

import (
	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/storage"
)

// keepingSealer is the sealer of an account file a store may save: the
// file keeps its header (its wrapped file key) between saves
// (crypto.VaultSealer.SealKeeping), so a save of an account already opened
// or saved costs no X25519 (`tgvault run` saves thousands of accounts at
// SIGTERM). The crypto package decides when a header may be reused.
type keepingSealer struct{ *crypto.VaultSealer }

var _ storage.KeepingSealer = keepingSealer{}

// OpenKeeping opens in place and keeps the file's key, if reusable.
func (s keepingSealer) OpenKeeping(ciphertext []byte) ([]byte, storage.FileKey, error) {
	pt, k, err := s.VaultSealer.OpenKeeping(ciphertext)
	if k == nil {
		return pt, nil, err // not a typed nil in the interface
	}
	return pt, k, err
}

// SealKeeping seals under k when k is this sealer's.
func (s keepingSealer) SealKeeping(plaintext []byte, k storage.FileKey) ([]byte, storage.FileKey, error) {
	fk, _ := k.(*crypto.FileKey)
	sealed, next, err := s.VaultSealer.SealKeeping(plaintext, fk)
	if next == nil {
		return sealed, nil, err
	}
	return sealed, next, err
}
