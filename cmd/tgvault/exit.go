package main

import (
	"errors"
	"fmt"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/internal/memlock"
	"github.com/tgvault/tgvault/internal/privdir"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/vault"
)

// Exit codes, documented in README.md. Scripts rely on them: never
// renumber.
const (
	exitOK        = 0
	exitError     = 1   // the operation failed (bad input, unreadable file, ...)
	exitUsage     = 2   // the command line is wrong
	exitLocked    = 3   // vault.ErrLocked: no identity for this process
	exitNotFound  = 4   // no such account, or no vault in the directory
	exitBusy      = 5   // ErrBusy, ErrHeldByRun, ErrHandedOff, ErrDuplicateKey, ErrMigrated
	exitWrongKey  = 6   // wrong passphrase or identity
	exitCorrupt   = 7   // a damaged, tampered or mismatched vault file
	exitKeyring   = 8   // the OS keyring is unavailable
	exitNoCommand = 127 // exec: CMD could not be started (a signal N that ended it: 128+N, childproc.SignalBase)
)

// usageError marks an error in the command line (exit 2).
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// exitStatus is returned by exec to pass the child's exit status through
// without printing anything.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// classify maps an error to its exit code and a short name for --json.
// It uses errors.Is and errors.As only, never the message. The order
// matters where an error may match two sentinels: the more specific or
// more actionable one wins.
func classify(err error) (int, string) {
	var u *usageError
	switch {
	case err == nil:
		return exitOK, ""
	case errors.As(err, &u):
		return exitUsage, "usage"
	case errors.Is(err, vault.ErrKeyring):
		return exitKeyring, "keyring"
	case errors.Is(err, vault.ErrDuplicateKey):
		return exitBusy, "duplicate_key"
	case errors.Is(err, vault.ErrMigrated):
		return exitBusy, "migrated"
	case errors.Is(err, vault.ErrNameTaken):
		return exitError, "name_taken"
	case errors.Is(err, vault.ErrBadInput), errors.Is(err, mtproto.ErrTDataCorrupt), errors.Is(err, mtproto.ErrNotTData):
		return exitError, "bad_input"
	case errors.Is(err, localapi.ErrBadCall):
		return exitError, "bad_call"
	case errors.Is(err, localapi.ErrRefused):
		return exitError, "refused"
	case errors.Is(err, daemon.ErrFleetNames):
		return exitUsage, "usage"
	case errors.Is(err, mtproto.ErrProxyAuth):
		return exitError, "proxy_auth"
	case errors.Is(err, memlock.ErrNotLocked):
		return exitError, "memlock"
	case errors.Is(err, privdir.ErrNotPrivate):
		return exitError, "unsafe_dir"
	case errors.Is(err, mtproto.ErrTDataPasscode), errors.Is(err, mtproto.ErrTDataWrongPasscode):
		return exitWrongKey, "wrong_key"
	case errors.Is(err, vault.ErrWrongPassphrase), errors.Is(err, vault.ErrWrongKey), errors.Is(err, crypto.ErrWrongKey):
		return exitWrongKey, "wrong_key"
	case errors.Is(err, vault.ErrCorrupt), errors.Is(err, vault.ErrBinding), errors.Is(err, crypto.ErrCorrupt):
		return exitCorrupt, "corrupt"
	case errors.Is(err, vault.ErrBusy), errors.Is(err, vault.ErrHeldByRun), errors.Is(err, vault.ErrHandedOff),
		errors.Is(err, vault.ErrRekeyPending):
		return exitBusy, "busy"
	case errors.Is(err, vault.ErrLocked), errors.Is(err, vault.ErrKeyringNotFound):
		return exitLocked, "locked"
	case errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrNotInitialized), errors.Is(err, localapi.ErrNotFound):
		return exitNotFound, "not_found"
	}
	if le, ok := errors.AsType[*localapi.Error](err); ok && apiKinds[le.Body.Kind] {
		return exitError, le.Body.Kind // flood_wait, rpc_error, key_lost, ...
	}
	return exitError, "error"
}

// apiKinds are the kinds of the local API's error answers that pass on
// as a command's own --json kind. Others (a newer or foreign server) are
// not: the kinds a script sees stay the ones README lists.
var apiKinds = map[string]bool{
	localapi.KindBodyTimeout: true, localapi.KindUnauthorized: true, localapi.KindKeyLost: true,
	localapi.KindKeyDuplicated: true, localapi.KindNoSession: true, localapi.KindFloodWait: true,
	localapi.KindRPCError: true, localapi.KindFailed: true, localapi.KindTimeout: true, localapi.KindUnreachable: true,
	localapi.KindRelayOff: true,
}

// hint adds what to do about an error, where the error's own message
// (the vault's messages already say how to unlock, reclaim or do without
// a keyring) does not.
func hint(err error) string {
	switch {
	case errors.Is(err, vault.ErrNotInitialized):
		return "or point --vault / TGVAULT_DIR at an existing vault"
	case errors.Is(err, vault.ErrBinding), errors.Is(err, vault.ErrCorrupt):
		return corruptHint(err)
	case errors.Is(err, localapi.ErrNoServer):
		return "start it (tgvault run), or point --socket/TGVAULT_SOCKET at its socket"
	case errors.Is(err, mtproto.ErrProxyAuth):
		return "fix the proxy's username or password: TGVAULT_PROXY_FILE (a file holding the URL), or `tgvault proxy NAME -` (the URL on stdin) for an account's own"
	}
	return ""
}

// corruptHint says, by the file that failed, what it is and what to do
// (exit 7: a vault file damaged, or written by someone without the vault
// key).
func corruptHint(err error) string {
	const doctor = "`tgvault doctor` lists every damaged file"
	if ae, ok := errors.AsType[*vault.AccountError](err); ok {
		return "the account file accounts/" + ae.ID + ".age failed (the other accounts are not affected): " +
			"restore that file from a backup, or remove the account (`tgvault rm NAME`) and import its session again; " + doctor
	}
	fe, ok := errors.AsType[*vault.FileError](err)
	if !ok {
		return doctor + "; the other accounts are not affected"
	}
	switch fe.File {
	case vault.FileMeta:
		return "vault.json holds no secret (the vault id, format and public key, authenticated by the vault key): " +
			"restore it from a backup or another copy of this vault; nothing is served until then; check who can write the vault directory"
	case vault.FileIndex:
		return "the index (index.age) lists the accounts and is rewritten by every import, rename and run save: " +
			"restore it from a backup; the account files are not affected; " + doctor
	case vault.FilePassphrase:
		return "the passphrase slot (slots/passphrase.age) failed: restore it from a backup; the vault key is not affected, " +
			"so while the vault is unlocked (keyring, agent or --identity) every account still opens: without a backup, " +
			"move them to a new vault (`tgvault export NAME --to RECIPIENT --move`)"
	case vault.FileHandoff:
		return "the sealed string was changed or cut on its way: ask the sender for it again (nothing was imported)"
	}
	return doctor
}
