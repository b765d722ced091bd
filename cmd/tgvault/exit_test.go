package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want int
	}{
		{usagef("bad"), exitUsage},
		{errors.New("plain"), exitError},
		{vault.ErrBadInput, exitError},
		{vault.ErrExists, exitError},
		{vault.ErrMissingField, exitError},
		{fmt.Errorf("wrapped: %w", vault.ErrLocked), exitLocked},
		{vault.ErrKeyringNotFound, exitLocked},
		{vault.ErrNotFound, exitNotFound},
		{vault.ErrNotInitialized, exitNotFound},
		{&vault.BusyError{Holder: vault.LockHolder{PID: 42}}, exitBusy},
		{vault.ErrHeldByRun, exitBusy},
		{vault.ErrHandedOff, exitBusy},
		{vault.ErrRekeyPending, exitBusy},
		{&vault.HeldError{Holder: vault.LockHolder{PID: 42}}, exitBusy},
		{&vault.DuplicateKeyError{Account: "a"}, exitBusy},
		{&vault.MigratedError{To: "postgres://h/db"}, exitBusy},
		{&pgvault.QuietError{Wait: 3 * time.Minute}, exitBusy},
		{fmt.Errorf("%w: \"x\"", vault.ErrNameTaken), exitError},
		{&vault.NotSessionError{Reason: "a README"}, exitError},
		{vault.ErrWrongPassphrase, exitWrongKey},
		{vault.ErrWrongKey, exitWrongKey},
		{crypto.ErrWrongKey, exitWrongKey},
		{vault.ErrCorrupt, exitCorrupt},
		{vault.ErrBinding, exitCorrupt},
		{crypto.ErrCorrupt, exitCorrupt},
		{&vault.KeyringError{Op: "get", Cause: vault.CauseTimeout}, exitKeyring},
		// The more actionable sentinel wins.
		{errors.Join(vault.ErrLocked, &vault.KeyringError{Op: "get", Cause: vault.CauseNoDBus}), exitKeyring},
		{fmt.Errorf("%w: %w", vault.ErrBadInput, crypto.ErrCorrupt), exitError},
		{fmt.Errorf("%w: unknown TL method", localapi.ErrBadCall), exitError},
		{fmt.Errorf("%w: auth.logOut", localapi.ErrRefused), exitError},
		{fmt.Errorf("%w: x", localapi.ErrNotFound), exitNotFound},
		{daemon.ErrFleetNames, exitUsage}, // run --worker W NAME
	} {
		if got, _ := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	// The kinds scripts branch on (README, exit codes).
	for _, c := range []struct {
		err  error
		kind string
	}{
		{&vault.DuplicateKeyError{Account: "a"}, "duplicate_key"},
		{&vault.MigratedError{To: "postgres://h/db"}, "migrated"},
		{fmt.Errorf("%w: \"x\"", vault.ErrNameTaken), "name_taken"},
		{&vault.HeldError{}, "busy"},
		{&pgvault.QuietError{Wait: 3 * time.Minute}, "busy"},
		{&vault.NotSessionError{Reason: "a README"}, "bad_input"},
	} {
		if _, got := classify(c.err); got != c.kind {
			t.Errorf("classify(%v) kind %q, want %q", c.err, got, c.kind)
		}
	}
}

func TestDefaultDir(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		flag string
		env  map[string]string
		want string
	}{
		{"/flag", map[string]string{"TGVAULT_DIR": "/env"}, "/flag"},
		{"", map[string]string{"TGVAULT_DIR": "/env", "XDG_DATA_HOME": "/xdg"}, "/env"},
		{"", map[string]string{"XDG_DATA_HOME": "/xdg"}, filepath.Join("/xdg", "tgvault")},
	} {
		a := &app{vaultDir: c.flag, getenv: env(c.env)}
		got, err := a.dir()
		if err != nil || got != c.want {
			t.Errorf("dir() with flag %q env %v = %q, %v; want %q", c.flag, c.env, got, err, c.want)
		}
	}
}

// TestCorruptHint: an exit-7 error says which file failed and what to do
// about that file.
func TestCorruptHint(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err  error
		want string
	}{
		{&vault.AccountError{ID: "ab12", Reason: "the file is damaged", Err: vault.ErrCorrupt}, "accounts/ab12.age failed"},
		{&vault.FileError{File: vault.FileMeta, Err: vault.ErrCorrupt}, "vault.json holds no secret"},
		{&vault.FileError{File: vault.FileIndex, Err: vault.ErrCorrupt}, "the index (index.age)"},
		{&vault.FileError{File: vault.FilePassphrase, Err: vault.ErrCorrupt}, "passphrase slot (slots/passphrase.age)"},
		{&vault.FileError{File: vault.FileHandoff, Err: vault.ErrCorrupt}, "ask the sender for it again"},
		{fmt.Errorf("%w: something", vault.ErrCorrupt), "`tgvault doctor` lists every damaged file"},
	} {
		if got := hint(c.err); !strings.Contains(got, c.want) {
			t.Errorf("hint(%v) = %q, want it to say %q", c.err, got, c.want)
		}
		if code, kind := classify(c.err); code != exitCorrupt || kind != "corrupt" {
			t.Errorf("classify(%v) = %d %s, want exit 7 corrupt", c.err, code, kind)
		}
	}
}
