// Package filekeyring is the keyring of TGVAULT_INSECURE_TEST_KEYRING: one
// file per secret in a directory, UNENCRYPTED. It exists so that the
// end-to-end tests run on machines without a Secret Service, across
// processes; it must never be used for real vaults. Only test binaries and
// builds with -tags tgvault_testhooks link it (cmd/tgvault/testhooks.go);
// cmd/tgvault's TestReleaseBuildHasNoTestHooks checks that a normal build
// does not.
//
// Layer rule (docs/ARCHITECTURE.md): vault and storage only.
package filekeyring

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

// Env is the environment variable that names the directory.
const Env = "TGVAULT_INSECURE_TEST_KEYRING"

// Keyring keeps each secret in a file of its directory, unencrypted.
type Keyring struct{ dir string }

var _ vault.Keyring = Keyring{}

// New returns the keyring of the directory dir (made on the first Set).
func New(dir string) Keyring { return Keyring{dir: dir} }

// FromEnv is the keyring Env names, and the warning to print once a run;
// a nil keyring when Env is not set.
func FromEnv(getenv func(string) string) (vault.Keyring, string) {
	d := getenv(Env)
	if d == "" {
		return nil, ""
	}
	return New(d), Env + " is set: the vault identity is stored UNENCRYPTED in " + d + ". This is for tests only; unset it for real use."
}

func (k Keyring) path(service, user string) string {
	return filepath.Join(k.dir, hex.EncodeToString([]byte(service))+"-"+hex.EncodeToString([]byte(user)))
}

func (k Keyring) Get(service, user string) (string, error) {
	b, err := os.ReadFile(k.path(service, user))
	if errors.Is(err, fs.ErrNotExist) {
		return "", vault.ErrKeyringNotFound
	}
	if err != nil {
		return "", fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	return string(b), nil
}

func (k Keyring) Set(service, user, secret string) error {
	if err := os.MkdirAll(k.dir, 0o700); err != nil {
		return fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	if err := atomicfile.WriteFile(k.path(service, user), []byte(secret)); err != nil {
		return fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	return nil
}

func (k Keyring) Delete(service, user string) error {
	err := os.Remove(k.path(service, user))
	if errors.Is(err, fs.ErrNotExist) {
		return vault.ErrKeyringNotFound
	}
	if err != nil {
		return fmt.Errorf("%w: test keyring: %w", vault.ErrKeyring, err)
	}
	return nil
}
