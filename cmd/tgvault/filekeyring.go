package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/vault"
)

// fileKeyring is the keyring of TGVAULT_INSECURE_TEST_KEYRING: one file
// per secret in a directory, UNENCRYPTED. It exists so that the end-to-end
// tests run on machines without a Secret Service, across processes; it
// must never be used for real vaults (the command warns loudly).
type fileKeyring struct{ dir string }

var _ vault.Keyring = fileKeyring{}

func (k fileKeyring) path(service, user string) string {
	return filepath.Join(k.dir, hex.EncodeToString([]byte(service))+"-"+hex.EncodeToString([]byte(user)))
}

func (k fileKeyring) Get(service, user string) (string, error) {
	b, err := os.ReadFile(k.path(service, user))
	if errors.Is(err, fs.ErrNotExist) {
		return "", vault.ErrKeyringNotFound
	}
	if err != nil {
		return "", fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	return string(b), nil
}

func (k fileKeyring) Set(service, user, secret string) error {
	if err := os.MkdirAll(k.dir, 0o700); err != nil {
		return fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	if err := atomicfile.WriteFile(k.path(service, user), []byte(secret)); err != nil {
		return fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	return nil
}

func (k fileKeyring) Delete(service, user string) error {
	err := os.Remove(k.path(service, user))
	if errors.Is(err, fs.ErrNotExist) {
		return vault.ErrKeyringNotFound
	}
	if err != nil {
		return fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	return nil
}
