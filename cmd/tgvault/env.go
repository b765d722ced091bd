package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/secretfile"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// dir returns the vault directory: --vault, else TGVAULT_DIR, else the
// platform default (userdirs.VaultDir).
func (a *app) dir() (string, error) {
	if a.vaultDir != "" {
		return a.vaultDir, nil
	}
	return userdirs.VaultDir(a.getenv)
}

// testKeyring is nil in a normal build. Test binaries (testhooks_test.go)
// and builds with -tags tgvault_testhooks (testhooks.go) set it to
// internal/filekeyring.FromEnv: with TGVAULT_INSECURE_TEST_KEYRING=DIR the
// identity is kept unencrypted in DIR, for end-to-end tests on machines
// without a Secret Service.
var testKeyring func(getenv func(string) string) (vault.Keyring, string)

// keyring returns the keyring to keep the unlocked identity in: the OS
// keyring (or, in a test build, testKeyring's).
func (a *app) keyring() vault.Keyring {
	if testKeyring != nil {
		if k, warning := testKeyring(a.getenv); k != nil {
			if !a.warnedKeyring {
				a.warnedKeyring = true
				a.warnf("%s", warning)
			}
			return k
		}
	}
	return vault.SystemKeyring()
}

// identityFile returns the identity of --identity or TGVAULT_IDENTITY, or
// nil when neither is set.
func (a *app) identityFile() (*crypto.Identity, error) {
	path := a.identity
	if path == "" {
		path = a.getenv("TGVAULT_IDENTITY")
	}
	if path == "" {
		return nil, nil
	}
	b, exposed, err := secretfile.Read(path)
	defer clear(b)
	a.warnExposed(path, exposed, "identity file "+path, "the vault key")
	if err != nil {
		return nil, fmt.Errorf("identity file: %w", err)
	}
	id, n, err := crypto.ReadIdentityFile(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("identity file %s: %w", path, err)
	}
	if n > 1 {
		a.warnf("identity file %s holds %d identities; using the first", path, n)
	}
	return id, nil
}

// passphraseFromEnv reads the passphrase in the file named by the
// environment variable env (crypto.PassphraseFromFile). It returns nil
// when env is unset.
func (a *app) passphraseFromEnv(env string) (crypto.Passphrase, error) {
	path := a.getenv(env)
	if path == "" {
		return nil, nil
	}
	b, exposed, err := secretfile.Read(path)
	a.warnExposed(path, exposed, env+" "+path, "a secret")
	if err != nil {
		// The error names the file, never its content.
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	p := crypto.PassphraseFromFile(b)
	if len(p) == 0 {
		return nil, fmt.Errorf("%s: the file %s is empty", env, path)
	}
	return p, nil
}

// warnExposed warns, once a run for each file (it may be read more than
// once), that the secret file at path, named what and holding holds, is
// readable by other users (secretfile.Read's exposed mode, 0 when not).
func (a *app) warnExposed(path string, exposed fs.FileMode, what, holds string) {
	if exposed == 0 || a.warnedFiles[path] {
		return
	}
	if a.warnedFiles == nil {
		a.warnedFiles = map[string]bool{}
	}
	a.warnedFiles[path] = true
	a.warnf("%s is readable by other users (mode %04o) and holds %s: chmod 600 it", what, exposed, holds)
}

// unlockMode says how a command wants the vault opened.
type unlockMode int

const (
	// perProcess lets TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY and
	// --identity unlock this process; else the keyring is used.
	perProcess unlockMode = iota
	// keyringOnly opens the vault with the keyring only: for commands
	// (unlock, passwd, rekey) that take the passphrase as an argument.
	keyringOnly
)

// options builds vault.Options from the flags and the environment. The
// returned cleanup wipes the passphrase.
func (a *app) options(mode unlockMode) (vault.Options, func(), error) {
	opts, closeBackend, err := a.location()
	if err != nil {
		return vault.Options{}, func() {}, err
	}
	opts.Keyring = a.keyring()
	opts.Agent = a.agentKeyring()
	if mode == keyringOnly {
		return opts, closeBackend, nil
	}
	// An identity unlocks; else a passphrase file does.
	id, err := a.identityFile()
	var pass crypto.Passphrase
	if err == nil && id == nil {
		pass, err = a.passphraseFromEnv("TGVAULT_PASSPHRASE_FILE")
	}
	if err != nil {
		closeBackend()
		return vault.Options{}, func() {}, err
	}
	opts.Identity, opts.Passphrase = id, pass
	return opts, func() { opts.Passphrase.Wipe(); closeBackend() }, nil
}

// location is where the vault lives (--vault, TGVAULT_DIR or the
// default; pgvault.Location: a directory, or a PostgreSQL database whose
// connections the returned func closes).
func (a *app) location() (vault.Options, func(), error) {
	dir, err := a.dir()
	if err != nil {
		return vault.Options{}, func() {}, err
	}
	opts, closeBackend, err := pgvault.Location(context.Background(), dir, func(wait time.Duration) {
		a.notef("waiting %v: a fleet worker held the account until a moment ago, and the server closes its connections only after the fleet's takeover wait (docs/fleet.md)", wait.Round(100*time.Millisecond))
	})
	if err != nil {
		return vault.Options{}, closeBackend, err
	}
	opts.StateDir, _ = userdirs.HostStateDir(a.getenv) // none: no host record of the vault's format
	return opts, closeBackend, nil
}

// withVault opens the vault, runs f and closes the vault, joining a close
// error to f's. The passphrase from the environment is wiped after Close:
// the vault may use it until then.
func (a *app) withVault(mode unlockMode, f func(v *vault.Vault) error) (err error) {
	opts, cleanup, err := a.options(mode)
	defer cleanup()
	if err != nil {
		return err
	}
	v, err := vault.Open(opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := v.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return f(v)
}

// vaultRunE is the RunE of a command that works on the open vault: f
// gets the vault (withVault) and the command's arguments.
func (a *app) vaultRunE(mode unlockMode, f func(v *vault.Vault, args []string) error) func(*cobra.Command, []string) error {
	return func(_ *cobra.Command, args []string) error {
		return a.withVault(mode, func(v *vault.Vault) error { return f(v, args) })
	}
}

var errNoTerminal = errors.New("no terminal to ask for the passphrase on")
