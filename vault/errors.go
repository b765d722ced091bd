package vault

import "errors"

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
