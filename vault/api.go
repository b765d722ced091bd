package vault

// This file is the vault's public contract: the types the command line and
// the pool use, and (in the comment at its end) the Vault's methods, which
// the other files of the package implement.

import (
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

// KeyringService is the OS keyring service name; the user is the vault id.
const KeyringService = "tgvault"

// KeyringTimeout bounds every keyring call: a Secret Service whose unlock
// prompt nobody answers would otherwise hang forever.
const KeyringTimeout = 10 * time.Second

// Keyring is the slice of an OS keyring the vault uses (go-keyring's
// shape). The vault is its only user; tests inject a fake. Implementations
// return ErrKeyringNotFound for a missing secret.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// Options open a vault.
type Options struct {
	// Dir is the vault directory (see DefaultDir).
	Dir string
	// Backend, when set, keeps the vault somewhere else than Dir (package
	// pgvault: a PostgreSQL database); Dir is then ignored.
	Backend Backend
	// Keyring holds the unlocked identity; nil means no OS keyring (the
	// vault is then only unlocked per process, by Identity or Passphrase,
	// or through Agent). Open drops it for a vault made with
	// InitOptions.NoKeyring, which never asks the keyring.
	Keyring Keyring
	// Agent holds the unlocked identity where the OS keyring cannot (a
	// tgvault agent, package agent, behind the same interface); nil where
	// there is none. It is asked first (it holds a key only when the
	// keyring could not), Unlock uses it when the keyring fails, and a
	// NoKeyring vault uses it alone. See keyring_hold.go.
	Agent Keyring
	// Identity, when set, unlocks this process only (TGVAULT_IDENTITY,
	// --identity): the keyring is not consulted.
	Identity *crypto.Identity
	// Passphrase, when set, opens the passphrase slot for this process
	// only (TGVAULT_PASSPHRASE_FILE): the keyring is not consulted.
	Passphrase crypto.Passphrase
	// StateDir is a directory of this user on this host, outside the vault
	// (cmd/tgvault: $XDG_STATE_HOME/tgvault), where the vault records what
	// must survive a rollback of the vault directory: that it was upgraded
	// to format 2 (format.go). Empty: no such record.
	StateDir string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// InitOptions create a vault.
type InitOptions struct {
	Options
	// NoKeyring makes a vault that never uses the OS keyring (unlocked
	// per process, or by Unlock through Options.Agent); Init leaves it
	// locked.
	NoKeyring bool
	// LeaveLocked keeps the new identity out of the keyring and the agent:
	// the vault is locked once made (a host where neither can hold it).
	LeaveLocked bool
}

// Status is what `tgvault status` shows about the lock state.
type Status struct {
	VaultID    string      `json:"vault_id"`
	Dir        string      `json:"dir"`
	Unlocked   bool        `json:"unlocked"`
	UnlockedBy string      `json:"unlocked_by"` // "keyring", "agent", "identity", "passphrase" or ""
	Expires    *time.Time  `json:"expires"`     // unlock --timeout, nil if none
	NoKeyring  bool        `json:"no_keyring"`
	Accounts   int         `json:"accounts"` // -1 when locked (the index is sealed)
	Writer     *LockHolder `json:"writer"`   // the process holding the write lock, if any
}

// LockHolder names the process holding the vault's write lock.
type LockHolder struct {
	PID     int       `json:"pid"`
	Command string    `json:"command"`
	Host    string    `json:"host,omitempty"` // where the process runs (a shared backend has many hosts)
	Since   time.Time `json:"since"`
}

// AccountStatus is an account's state in the index.
type AccountStatus string

// Account states.
const (
	StatusActive    AccountStatus = "active"
	StatusHandedOff AccountStatus = "handed_off" // export --move: nothing connects it until reclaim
	StatusKeyLost   AccountStatus = "key_lost"   // the server no longer knows the key
	StatusRevoked   AccountStatus = "revoked"    // AUTH_KEY_UNREGISTERED, SESSION_REVOKED, ...
	StatusBroken    AccountStatus = "broken"     // its file fails to open (see Account.Error)
	// StatusMismatch: the server said the key is logged in as another user
	// (or bot flag, or environment) than the vault recorded: a wrong
	// session, or a wrong field. run leaves it alone; `tgvault set`
	// corrects the field.
	StatusMismatch AccountStatus = "mismatch"
	StatusMigrated AccountStatus = "migrated" // the vault was copied to PostgreSQL (migrate): served there, not here
)

// Account is one index entry: what list and show print. It never holds
// the key. Fields a source did not carry are null in JSON.
type Account struct {
	Name     string                   `json:"name"`
	ID       string                   `json:"id"` // random, names the file accounts/<id>.age
	UserID   sessionstring.Opt[int64] `json:"user_id"`
	DCID     int                      `json:"dc_id"`
	IsBot    sessionstring.Opt[bool]  `json:"is_bot"`
	TestMode sessionstring.Opt[bool]  `json:"test_mode"`
	APIID    sessionstring.Opt[int32] `json:"api_id"`
	// KeyID is the auth key's MTProto id (16 hex digits, as gotd and
	// Telegram print it; not a secret: MTProto sends it in clear with
	// every message). One key is in one account only; "" where the index
	// does not know it yet (a file that did not open since the index was
	// upgraded).
	KeyID    string        `json:"key_id,omitempty"`
	Status   AccountStatus `json:"status"`
	Reason   string        `json:"reason,omitempty"` // why revoked/key_lost/broken
	Peers    int           `json:"peers"`
	Revision uint64        `json:"revision"`
	Source   string        `json:"source,omitempty"` // format/dialect it was imported from
	Created  time.Time     `json:"created"`
	Updated  time.Time     `json:"updated"`
}

// ImportOptions tune Import.
type ImportOptions struct {
	// Name for the account; derived from the source (file name, user id)
	// when empty. Must be unique in the vault.
	Name string
	// Format forces the source format ("" = detect): a sessionstring
	// format name, or FormatPyrogramFile, FormatTelethonFile for .session
	// files (ValidImportFormat).
	Format string
	// APIID fills a missing api_id (old Pyrogram strings, Telethon).
	APIID sessionstring.Opt[int32]
	// Passphrase opens a sealed hand-off string made with --passphrase.
	Passphrase crypto.Passphrase
	// SkipExisting reports a source whose key the vault holds already as
	// ImportReport.Existing instead of failing with a *DuplicateKeyError.
	SkipExisting bool
	// Replace replaces the account that holds the source's key (it keeps
	// its name unless Name gives another) instead of refusing the source.
	Replace bool
	// Force imports into a vault that was migrated to PostgreSQL.
	Force bool
	// RemoveSource deletes a file source and its SQLite companions
	// (RemovePlaintext) once its account is in a durably saved index:
	// ImportFile after the save, ImportFiles after the save of the
	// source's batch. A source whose index save failed, that failed, or
	// whose key the vault holds (Existing) is never removed. The report
	// says Removed; a removal that fails is a *RemoveSourceError, returned
	// with the report (the account is imported). Import and
	// ImportSessions ignore it: they read no file of their own.
	RemoveSource bool
}

// ImportReport says what an import carried and lacked.
type ImportReport struct {
	Account   Account  `json:"account"`
	Source    string   `json:"source"` // detected format or dialect
	Lacks     []string `json:"lacks"`  // fields the source did not carry
	Ambiguous bool     `json:"ambiguous,omitempty"`
	Peers     int      `json:"peers"`
	// PlaintextRemains is true when the source was a file that still
	// exists in plaintext (the CLI warns; --remove-source deletes it).
	PlaintextRemains bool `json:"plaintext_remains"`
	// Existing names the account that holds the source's key already
	// (ImportOptions.SkipExisting): nothing was imported from the source.
	Existing string `json:"existing,omitempty"`
	// Replaced names the account this import replaced
	// (ImportOptions.Replace).
	Replaced string `json:"replaced,omitempty"`
	// Removed is true when ImportOptions.RemoveSource deleted the
	// source (PlaintextRemains is false then). Not in the report's JSON:
	// the CLI says it beside the report.
	Removed bool `json:"-"`
}

// SealedExportOptions make a sealed hand-off string.
type SealedExportOptions struct {
	// To seals to these recipients (age X25519, ssh-ed25519, ssh-rsa).
	To []*crypto.Recipient
	// Passphrase seals with a one-time passphrase instead.
	Passphrase crypto.Passphrase
	// AskPassphrase, when set, gives Passphrase: it is called (a person
	// types it) only once the account is known to exist, and what it
	// returns is wiped when ExportSealed returns.
	AskPassphrase func() (crypto.Passphrase, error)
	// WithPeers adds the peer cache (makes the string long: for files).
	WithPeers bool
	// Move marks the local account handed off.
	Move bool
	// Force allows exporting an account that `run` holds.
	Force bool
}

// The Vault's methods and the package's functions (implemented in vault.go
// and the files beside it). This list is complete: TestAPIListsEveryMethod
// fails when an exported function or method of *Vault is missing here, or
// listed here and gone.
//
// Opening, unlocking, status:
//
//	func Init(opts InitOptions, pass crypto.Passphrase) (*Vault, error)
//	func Open(opts Options) (*Vault, error)        // reads vault.json; does not unlock; drops Keyring for a NoKeyring vault
//	func SystemKeyring() Keyring                   // the OS keyring (go-keyring), every call under KeyringTimeout
//	func CheckVacant(opts Options) error             // ErrExists where opts names a vault already
//	func PlanInit(opts *InitOptions) (HolderPlan, error) // before the passphrase: the holder, LeaveLocked
//	func OpenForUnlock(opts Options) (*Vault, HolderPlan, error) // Open and plan the holder before the passphrase; ErrNoHolder where nothing can hold the key
//	func ThisProcess(now time.Time) LockHolder     // this process as a lock holder
//	func (v *Vault) Close() error
//	func (v *Vault) ID() string
//	func (v *Vault) Dir() string                    // the backend's Location
//	func (v *Vault) Backend() Backend
//	func (v *Vault) Format() int                    // the on-disk format version (format.go)
//	func (v *Vault) Unlock(pass crypto.Passphrase, timeout time.Duration) error // passphrase -> keyring, else agent; 0 = no expiry
//	func (v *Vault) Lock() error                    // removes the identity from the keyring and the agent
//	func (v *Vault) Status() (Status, error)
//	func (v *Vault) StatusReport() (StatusReport, error) // Status, the account Holders, and whether a run serves
//	func (v *Vault) Recipient() (string, error)     // the vault's public key (age1...)
//	func (v *Vault) RecipientUnverified() (string, error) // the same from vault.json alone, without unlocking
//	func (v *Vault) RecipientOrUnverified() (recipient string, verified bool, err error) // Recipient, else (locked) RecipientUnverified
//	func (v *Vault) Doctor() []Check
//
// Accounts, for the commands:
//
//	func (v *Vault) List() ([]Account, error)       // one index open, no per-account decryption
//	func (v *Vault) Show(name string) (Account, error)
//	func WriteAccountsJSON(w io.Writer, accts []Account) error // list --json, without reflection
//	func Inspect(data []byte, path string) (Inspection, error) // what a source is and carries (a sealed one by its header); no vault; its Session holds the key (printed as its id)
//	func RemovePlaintext(path string) error         // an imported plaintext file and its SQLite companions
//	func FindSources(paths []string, o FindOptions) ([]ImportSource, []SkippedSource, error) // what import would read under paths
//	func ValidImportFormat(name string) bool          // ImportOptions.Format: "", a string format, FormatPyrogramFile or FormatTelethonFile
//	func (o ImportOptions) Check() error               // every import's refusal before it reads: ErrBadAPIID, ErrUnknownFormat, ErrSkipAndReplace
//	func (r *ImportRequest) Check() error              // ImportSources' refusal before it reads: the options', ErrNameNeedsOneSource, ErrNoSources
//	func ReadStream(r io.Reader) ([]byte, error)      // a source given on stdin, at most MaxSourceSize bytes (else ErrSourceTooLarge), for Import
//	func (v *Vault) Import(data []byte, srcPath string, opts ImportOptions) (ImportReport, error) // srcPath "" for stdin
//	func (v *Vault) ImportFile(path string, opts ImportOptions) (ImportReport, error)          // a .session file, a string file, gotd JSON, a sealed hand-off; RemoveSource after the index save
//	func (v *Vault) ImportFiles(paths []string, opts ImportOptions, progress func(done int, r ImportReport, err error)) error // progress once a file's batch is saved (RemoveSource then)
//	func (v *Vault) ImportSessions(ss []sessionstring.Session, source, srcPath string, opts ImportOptions) ([]ImportReport, error) // decoded elsewhere (tdata); all or none
//	func (v *Vault) ImportSources(req ImportRequest) (ImportSummary, error) // `tgvault import`: stdin, files, folders, then FindSources' found files; each source's outcome, and the import's as an error
//	func (v *Vault) CheckNewAccount(name string) error              // before a login: would CreateAccount refuse the name, or is the vault locked
//	func (v *Vault) CreateAccount(name string, snap *storage.Snapshot, source string) (Account, error) // a new login's session
//	func (v *Vault) Export(name string, f sessionstring.Format, force bool) (string, error)  // plain string
//	func (v *Vault) ExportPlainFile(name, path string, force bool) error                    // plain Pyrogram v3 .session, peers included
//	func CheckPlainFileTarget(path string) error                                            // refuses a taken path (ExportPlainFile never replaces)
//	func (v *Vault) ExportSealed(name string, opts SealedExportOptions) (string, error)      // one-line sealed hand-off
//	func (v *Vault) Set(name string, f SetFields) (Account, []FieldChange, error) // fill in fields a source lacked
//	func (v *Vault) SetStatus(name string, s AccountStatus, reason string) error
//	func (v *Vault) Reclaim(name string) error
//	func (v *Vault) Remove(name string) error
//	func (v *Vault) Rename(oldName, newName string) error
//	func (v *Vault) Passwd(oldPass, newPass crypto.Passphrase) error // re-seals the slot only
//	func (v *Vault) Rekey(pass crypto.Passphrase) error             // new identity, every account re-sealed
//	func (v *Vault) MigrateTo(dst Backend) (int, error)             // copy to another backend (PostgreSQL)
//	func (v *Vault) MigratedTo() (string, error)                    // where a migrated vault went, "" if not
//	func (v *Vault) AllowMigrated()                                 // serve a migrated vault anyway (--force)
//
// Ownership and the pool (`tgvault run`, the fleet worker):
//
//	func (v *Vault) ClaimAccounts(accts []Account) (c *Claim, busy map[string]LockHolder, err error) // run's ownership locks
//	func (v *Vault) ClaimAccount(name string) (release func() error, err error)                    // one account, for a moment
//	func (v *Vault) UpdateAccount(name string, fn func(f *storage.File) error) error             // a command's change to one account: ClaimAccount, then Commit
//	func StopFirst(err error) error                 // "stop it first" on a claim's *HeldError (UpdateAccount, daemon.Logout)
//	func (v *Vault) Holders() ([]Holding, error)                   // who holds which account
//	func (v *Vault) HeldByRun() (pid int, held bool)                // a `tgvault run` owns the accounts
//	func (v *Vault) OpenAccount(name string) (*storage.File, error)
//	func (v *Vault) OpenAccounts(accts []Account, blob func(Account) storage.Blob) (files []*storage.File, errs []error, err error) // many, on every core
//	func (v *Vault) OpenAccountsEach(accts []Account, blob func(Account) storage.Blob, each func(i int, f *storage.File, err error)) error // the same, each handed over as it opens
//	func (v *Vault) Commit(f *storage.File, fn func() error) error  // fn's changes sealed under the write lock
//	func (v *Vault) CommitAll(fs []*storage.File, fn func(*storage.File) error) error // the group commit of many files
//	func (v *Vault) MarkStore(f *storage.File, s AccountStatus, reason string) error // a state learned on connect (revoked, mismatch)
