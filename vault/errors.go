package vault

import (
	"errors"
	"fmt"
	"time"
)

// Sentinels; classify with errors.Is. Lower layers' errors are translated
// at this boundary, not re-exported.
var (
	// ErrNotInitialized: no vault.json in the directory.
	ErrNotInitialized = errors.New("vault: no vault here (run tgvault init)")
	// ErrExists: init over an existing vault, or an account name in use.
	ErrExists = errors.New("vault: already exists")
	// ErrLocked: no identity in the keyring and none given for this process.
	ErrLocked = errors.New("vault: locked")
	// ErrWrongPassphrase: the passphrase does not open the slot.
	ErrWrongPassphrase = errors.New("vault: wrong passphrase")
	// ErrWrongKey: the identity does not open the vault.
	ErrWrongKey = errors.New("vault: wrong identity")
	// ErrNotFound: no account of that name.
	ErrNotFound = errors.New("vault: no such account")
	// ErrBusy: another process holds the write lock (see *BusyError).
	ErrBusy = errors.New("vault: busy")
	// ErrHeldByRun: `tgvault run` holds the account; using the session in
	// two places kills it. --force overrides.
	ErrHeldByRun = errors.New("vault: account is held by tgvault run")
	// ErrHandedOff: the account was exported with --move; reclaim it first.
	ErrHandedOff = errors.New("vault: account was handed off")
	// ErrCorrupt: a vault file is damaged or tampered with.
	ErrCorrupt = errors.New("vault: corrupt or tampered file")
	// ErrBinding: an account file belongs elsewhere or was rolled back.
	ErrBinding = errors.New("vault: account file does not match the index")
	// ErrKeyring: the OS keyring failed (see *KeyringError).
	ErrKeyring = errors.New("vault: keyring unavailable")
	// ErrKeyringNotFound: the keyring has no secret for the vault.
	ErrKeyringNotFound = errors.New("vault: no secret in the keyring")
	// ErrBadInput: an import source that no reader accepts.
	ErrBadInput = errors.New("vault: unrecognised session")
	// ErrMissingField: an export needs a field the session lacks.
	ErrMissingField = errors.New("vault: session lacks a field the format needs")
)

// Sentinels added by the vault implementation.
var (
	// ErrRekeyPending: a rekey was interrupted; the vault opens with the
	// old or the new key but refuses writes until `tgvault rekey` is run
	// again.
	ErrRekeyPending = errors.New("vault: a rekey was interrupted; run tgvault rekey again to finish it")
	// ErrInvalidName: an account name that is empty, too long or holds
	// control characters.
	ErrInvalidName = errors.New("vault: invalid account name")
)

// The refusals of an import's request before it reads any source
// (ImportOptions.Check, ImportRequest.Check).
var (
	// ErrUnknownFormat: ImportOptions.Format names no format
	// (ValidImportFormat). It matches ErrBadInput.
	ErrUnknownFormat = fmt.Errorf("%w: unknown format", ErrBadInput)
	// ErrBadAPIID: an api_id given (ImportOptions.APIID, SetFields.APIID)
	// that is not positive. It matches ErrBadInput.
	ErrBadAPIID = fmt.Errorf("%w: api_id must be positive", ErrBadInput)
	// ErrSkipAndReplace: ImportOptions.SkipExisting and Replace together,
	// which exclude each other. It matches ErrBadInput.
	ErrSkipAndReplace = fmt.Errorf("%w: SkipExisting and Replace exclude each other", ErrBadInput)
	// ErrNameNeedsOneSource: ImportOptions.Name for an import of more
	// than one source, or of a file found in a directory: one name is
	// one account's (a tdata folder's accounts are NAME, NAME-2, ...). It
	// matches ErrBadInput.
	ErrNameNeedsOneSource = fmt.Errorf("%w: a Name needs exactly one source named (a file, stdin or a folder)", ErrBadInput)
	// ErrNoSources: an import of nothing: no source, and no path skipped.
	ErrNoSources = errors.New("vault: import: no sources")
)

// ErrNotSession: an import source that is no session at all (see
// *NotSessionError); a bulk import skips it. It matches ErrBadInput.
var ErrNotSession = fmt.Errorf("%w: not a session", ErrBadInput)

// Sentinels of the one-key and one-owner rules.
var (
	// ErrNameTaken: an account of that name exists (a different session;
	// see ErrDuplicateKey for the same one). It matches ErrExists.
	ErrNameTaken = fmt.Errorf("%w: an account has that name", ErrExists)
	// ErrDuplicateKey: the session's auth key is in the vault already,
	// under another account (see *DuplicateKeyError). Telegram kills a key
	// used from two places at once, so one key is in one account only.
	ErrDuplicateKey = errors.New("vault: the auth key is in the vault already")
	// ErrMigrated: the vault was copied to PostgreSQL (`tgvault migrate`);
	// the fleet serves that copy, so this one is not used unless forced
	// (see *MigratedError).
	ErrMigrated = errors.New("vault: this vault was migrated")
)

// DuplicateKeyError reports an import whose auth key an account of the
// vault has already. It matches ErrDuplicateKey.
type DuplicateKeyError struct {
	// Account is the name of the account that has the key.
	Account string
	// KeyID is the key's MTProto id (not a secret).
	KeyID string
}

func (e *DuplicateKeyError) Error() string {
	return fmt.Sprintf("%v: account %q has it (key id %s); import --replace replaces that account, --skip-existing skips such sources", ErrDuplicateKey, e.Account, e.KeyID)
}

// Unwrap returns ErrDuplicateKey.
func (e *DuplicateKeyError) Unwrap() error { return ErrDuplicateKey }

// RemoveSourceError reports an imported source that
// ImportOptions.RemoveSource could not delete: the account is in the
// vault, and the plaintext source (or a companion of it) is still there.
type RemoveSourceError struct {
	Path string // the source
	Err  error  // RemovePlaintext's failure
}

func (e *RemoveSourceError) Error() string {
	return "import: the session is sealed in the vault, but removing the plaintext source failed: " + e.Err.Error()
}

// Unwrap returns the removal's failure.
func (e *RemoveSourceError) Unwrap() error { return e.Err }

// MigratedError reports a directory vault that `tgvault migrate` copied
// to PostgreSQL. It matches ErrMigrated.
type MigratedError struct {
	// To is the database, as a URL without its password.
	To string
}

func (e *MigratedError) Error() string {
	return fmt.Sprintf("%v to %s: its accounts are served from there (tgvault --vault %s run --worker NAME); using this copy too would use each session in two places (--force does it anyway)", ErrMigrated, e.To, e.To)
}

// Unwrap returns ErrMigrated.
func (e *MigratedError) Unwrap() error { return ErrMigrated }

// HeldError reports an account whose ownership lock another process holds
// (a `tgvault run` serving it, or a command exporting, moving, removing or
// renaming it). It matches ErrHeldByRun.
type HeldError struct {
	Holder LockHolder
}

func (e *HeldError) Error() string {
	h := e.Holder
	if h.PID == 0 {
		return "vault: the account is held by another process (" + h.Command + ")"
	}
	host := ""
	if h.Host != "" {
		host = " on " + h.Host
	}
	return fmt.Sprintf("vault: the account is held by process %d (%s)%s since %s", h.PID, h.Command, host, h.Since.Format(time.RFC3339))
}

// Unwrap returns ErrHeldByRun.
func (e *HeldError) Unwrap() error { return ErrHeldByRun }

// FileError names the vault file that a failure to open or authenticate
// concerns, so that the CLI can say what to do about that file: vault.json
// (FileMeta), the index (FileIndex), the passphrase slot (FilePassphrase),
// or a sealed hand-off string being imported (FileHandoff). An account's
// file has *AccountError instead. Its message is Err's; it matches what
// Err matches (ErrCorrupt, ErrWrongKey).
type FileError struct {
	File string
	Err  error
}

// The files of a FileError.
const (
	FileMeta       = metaName
	FileIndex      = indexName
	FilePassphrase = slotPath
	FileHandoff    = "a sealed hand-off"
)

func (e *FileError) Error() string { return e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// fileErr wraps a failure concerning file in a *FileError (nil stays nil).
func fileErr(file string, err error) error {
	if err == nil {
		return nil
	}
	return &FileError{File: file, Err: err}
}
