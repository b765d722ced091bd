package vault

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tgvault/tgvault/crypto"
)

// The vault directory's entries.
const (
	metaName    = "vault.json"
	slotsDir    = "slots"
	slotName    = "passphrase.age"
	indexName   = "index.age"
	accountsDir = "accounts"
	rekeyName   = "rekey.age" // slots/rekey.age: the new identity while a rekey runs
	slotPath    = slotsDir + "/" + slotName
	rekeyPath   = slotsDir + "/" + rekeyName
	dirMode     = 0o700
	fileMode    = 0o600
	accountExt  = ".age"
	macLabel    = "tgvault recipients v1"
	rekeyMACTag = "tgvault rekey v1"
	keyringJSON = '{'
)

// vaultMeta is vault.json: public data only, authenticated by the vault
// key (format.go).
type vaultMeta struct {
	Format     int      `json:"format"`
	VaultID    string   `json:"vault_id"`
	Recipients []string `json:"recipients"`
	// RecipientsMAC is format 1's MAC: it covers Recipients only.
	RecipientsMAC string `json:"recipients_mac,omitempty"`
	NoKeyring     bool   `json:"no_keyring,omitempty"`
	// MAC is format 2's MAC: it covers every other field (metaMAC).
	MAC string `json:"mac,omitempty"`
}

// Vault is an open vault directory. Open reads only the public vault.json;
// every operation that needs the identity unlocks on its own (keyring, or
// the Identity/Passphrase of Options), so a Vault never holds the keyring's
// secret between calls.
//
// A Vault is safe for concurrent use by several goroutines; between
// processes, writes are serialised by the lock file.
type Vault struct {
	be   Backend
	opts Options
	meta vaultMeta

	mu     sync.Mutex
	slotID *crypto.Identity // Options.Passphrase's identity, once opened
	closed bool
	// strict is set once this process has seen vault.json in format 2,
	// authenticated: from then on no file is accepted without
	// authentication, whatever vault.json says later.
	strict atomic.Bool

	allowMigrated atomic.Bool // AllowMigrated: --force on a migrated vault
	anchored      atomic.Bool // the host's format anchor was checked (format.go)
}

// unlocked is the identity state of one operation.
type unlocked struct {
	primary *crypto.Identity   // the vault key as this process got it
	ids     []*crypto.Identity // primary, plus the other key of a pending rekey
	by      string             // "keyring", "agent", "identity" or "passphrase"
	expires *time.Time
	// legacy: the vault is still in format 1, whose files carry no
	// authentication; they are accepted until the next write upgrades
	// the vault (format.go).
	legacy bool
	format int // vault.json's format: below the current one, the next write upgrades
	// rekeyErr: slots/rekey.age is there but not authenticated by the
	// vault key; writes are refused with it.
	rekeyErr error
	vs       *crypto.VaultSealer // sealer's, made once
}

func (v *Vault) now() time.Time {
	if v.opts.Now != nil {
		return v.opts.Now()
	}
	return time.Now()
}

// backendOf is opts.Backend, else the directory opts.Dir.
func backendOf(opts Options) (Backend, error) {
	if opts.Backend != nil {
		return opts.Backend, nil
	}
	if opts.Dir == "" {
		return nil, errors.New("vault: no directory")
	}
	return DirBackend(opts.Dir), nil
}

// Init creates a vault in opts.Dir: a new X25519 identity, the passphrase
// slot sealed with pass, an empty index, and (unless NoKeyring) the
// identity in the keyring, so the new vault is unlocked.
func Init(opts InitOptions, pass crypto.Passphrase) (*Vault, error) {
	if len(pass) == 0 {
		return nil, errors.New("vault: init needs a passphrase (it opens the recovery slot)")
	}
	if opts.Backend == nil && opts.Dir == "" {
		return nil, errors.New("vault: init needs a directory")
	}
	be, err := backendOf(opts.Options)
	if err != nil {
		return nil, err
	}
	if _, err := be.Read(metaName); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrExists, vaultName(be, metaName))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, backendErr("init", err)
	}
	if !opts.NoKeyring && !opts.LeaveLocked && opts.Keyring == nil && opts.Agent == nil {
		return nil, fmt.Errorf("%w: no OS keyring and no agent (use --no-keyring for a per-process vault)", ErrKeyring)
	}
	if err := be.Prepare(); err != nil {
		return nil, backendErr("init", err)
	}
	id, err := crypto.GenerateIdentity()
	if err != nil {
		return nil, err
	}
	v := &Vault{be: be, opts: opts.Options}
	if opts.NoKeyring {
		v.opts.Keyring = nil // as Open does
	}
	v.meta = vaultMeta{Format: formatCurrent, VaultID: newID(16), NoKeyring: opts.NoKeyring}
	lk, err := v.writeLock()
	if err != nil {
		return nil, err
	}
	defer lk.release()
	if err := v.writeSlot(id, pass); err != nil {
		return nil, err
	}
	st := &unlocked{primary: id, ids: []*crypto.Identity{id}}
	if err := v.saveIndex(st, &index{Version: indexVersion, VaultID: v.meta.VaultID}); err != nil {
		return nil, err
	}
	if !opts.NoKeyring && !opts.LeaveLocked {
		if _, err := v.hold(id, nil); err != nil {
			return nil, err
		}
	}
	// vault.json last: until it exists, the directory is not a vault.
	if err := v.writeMeta(id); err != nil {
		return nil, err
	}
	return v, nil
}

// Open opens the vault in opts.Dir. It reads vault.json only: it does not
// unlock, and fails with ErrNotInitialized when there is no vault. A vault
// made with InitOptions.NoKeyring drops opts.Keyring here: nothing asks
// the OS keyring for it (a headless host has none, and a desktop one may
// pop up an unlock prompt).
func Open(opts Options) (*Vault, error) {
	be, err := backendOf(opts)
	if err != nil {
		return nil, err
	}
	b, err := be.Read(metaName)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotInitialized, be.Location())
	}
	if err != nil {
		return nil, fmt.Errorf("vault: open: %w", err)
	}
	var m vaultMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fileErr(metaName, fmt.Errorf("%w: vault.json: %v", ErrCorrupt, err))
	}
	if err := m.check(); err != nil {
		return nil, fileErr(metaName, err)
	}
	if m.NoKeyring {
		opts.Keyring = nil
	}
	return &Vault{be: be, opts: opts, meta: m}, nil
}

// Close forgets the identity this process unlocked with. It does not touch
// the keyring.
func (v *Vault) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.slotID = nil
	return nil
}

// ID returns the vault id (public; the keyring user name).
func (v *Vault) ID() string { return v.meta.VaultID }

// Dir returns the vault directory, or the Location of its Backend.
func (v *Vault) Dir() string { return v.be.Location() }

// Backend returns where the vault lives.
func (v *Vault) Backend() Backend { return v.be }

// vaultName names a blob of be for messages: its path in a directory.
func vaultName(be Backend, name string) string {
	if d, ok := be.(DirBackend); ok {
		return d.path(name)
	}
	return be.Location() + ": " + name
}

// newID returns n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("vault: no randomness: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// macKey derives a MAC key for label from the identity.
func macKey(id *crypto.Identity, label string) []byte {
	h := sha256.New()
	h.Write([]byte(label))
	h.Write([]byte{0})
	h.Write([]byte(id.Reveal()))
	return h.Sum(nil)
}

func mac(key []byte, parts ...string) string {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return hex.EncodeToString(m.Sum(nil))
}

// recipients are the keys every seal goes to: derived from the unlocked
// identity, never read from the plaintext vault.json.
func (st *unlocked) recipients() []*crypto.Recipient {
	return []*crypto.Recipient{st.primary.Recipient()}
}

// sealer seals to the vault key, authenticated by it, and opens files
// that any identity in hand opens and authenticated (or, in a format-1
// vault, files with no authentication at all). Set its context with
// Vault.sealerFor.
func (st *unlocked) sealer() (*crypto.VaultSealer, error) {
	if st.vs == nil {
		s, err := crypto.NewVaultSealer(st.ids, []*crypto.Identity{st.primary})
		if err != nil {
			return nil, err
		}
		st.vs = s
	}
	s := st.vs
	if st.legacy {
		s = s.AcceptUnauthenticated()
	}
	return s, nil
}

// lockedError is ErrLocked with the ways in. It also matches cause (such
// as ErrKeyringNotFound), when there is one.
type lockedError struct {
	why       string
	cause     error
	noKeyring bool // the vault never uses the keyring
	agent     bool // a tgvault agent can hold the key (unlock works)
	noUnlock  bool // nothing can hold the key here: do not advise unlock
}

func (e *lockedError) Error() string {
	switch {
	case e.noKeyring && e.agent:
		return fmt.Sprintf("%v (%s): run `tgvault unlock` (a tgvault agent holds the key; this vault never uses the OS keyring), or unlock this process only with TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY or --identity", ErrLocked, e.why)
	case e.noKeyring:
		return fmt.Sprintf("%v (%s): this vault has no keyring (init --no-keyring); unlock this process with TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY or --identity", ErrLocked, e.why)
	case e.noUnlock:
		return fmt.Sprintf("%v (%s): nothing can hold the vault key between processes here; unlock this process with TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY or --identity", ErrLocked, e.why)
	}
	return fmt.Sprintf("%v (%s): run `tgvault unlock`, or unlock this process only with TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY or --identity", ErrLocked, e.why)
}

// Unwrap returns ErrLocked and the cause.
func (e *lockedError) Unwrap() []error {
	if e.cause == nil {
		return []error{ErrLocked}
	}
	return []error{ErrLocked, e.cause}
}

// unlock finds the identity (unlockKeys) and decides from vault.json how
// strictly files are checked (fileMode): a vault.json the identity did not
// authenticate fails here.
func (v *Vault) unlock() (*unlocked, error) {
	st, err := v.unlockKeys()
	if err != nil {
		return nil, err
	}
	if st.legacy, st.format, err = v.fileModeMeta(st.ids); err != nil {
		return nil, err
	}
	return st, nil
}

// unlockKeys finds the identity: Options.Identity, Options.Passphrase,
// then the keyring; and the other key of a pending rekey.
func (v *Vault) unlockKeys() (*unlocked, error) {
	var st *unlocked
	switch {
	case v.opts.Identity != nil:
		st = &unlocked{primary: v.opts.Identity, by: "identity"}
	case len(v.opts.Passphrase) > 0:
		id, err := v.slotIdentity()
		if err != nil {
			return nil, err
		}
		st = &unlocked{primary: id, by: "passphrase"}
	default:
		id, exp, by, err := v.heldIdentity()
		if err != nil {
			return nil, err
		}
		st = &unlocked{primary: id, by: by, expires: exp}
	}
	st.ids = []*crypto.Identity{st.primary}
	switch old, next, err := v.readRekeyState(st.primary); {
	case err == nil:
		st.ids = rekeyIDs(st.primary, old, next)
	case !errors.Is(err, fs.ErrNotExist):
		st.rekeyErr = err
	}
	return st, nil
}

// slotIdentity opens the passphrase slot with Options.Passphrase, once per
// Vault.
func (v *Vault) slotIdentity() (*crypto.Identity, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.slotID != nil {
		return v.slotID, nil
	}
	id, err := v.openSlot(v.opts.Passphrase)
	if err != nil {
		return nil, err
	}
	v.slotID = id
	return id, nil
}

// openSlot opens slots/passphrase.age with pass.
func (v *Vault) openSlot(pass crypto.Passphrase) (*crypto.Identity, error) {
	sealed, err := v.be.Read(slotPath)
	if err != nil {
		return nil, fmt.Errorf("vault: read passphrase slot: %w", err)
	}
	text, err := crypto.OpenPassphrase(sealed, pass)
	switch {
	case errors.Is(err, crypto.ErrWrongKey):
		return nil, ErrWrongPassphrase
	case err != nil:
		return nil, fileErr(slotPath, fmt.Errorf("%w: passphrase slot: %v", ErrCorrupt, err))
	}
	defer clear(text)
	id, err := crypto.ParseIdentity(string(text))
	if err != nil {
		return nil, fileErr(slotPath, fmt.Errorf("%w: passphrase slot holds no identity", ErrCorrupt))
	}
	return id, nil
}

// writeSlot seals id with pass into slots/passphrase.age.
func (v *Vault) writeSlot(id *crypto.Identity, pass crypto.Passphrase) error {
	sealed, err := crypto.SealPassphrase([]byte(id.Reveal()), pass)
	if err != nil {
		return err
	}
	if err := v.be.Write(slotPath, sealed); err != nil {
		return fmt.Errorf("vault: write passphrase slot: %w", err)
	}
	return nil
}

// keyringSecret is the keyring value when unlock has a timeout. Without
// one the value is the bare identity text.
type keyringSecret struct {
	Identity string    `json:"identity"`
	Expires  time.Time `json:"expires"`
}

// Unlock opens the passphrase slot and puts the identity into the OS
// keyring, else (where the keyring fails, or for a NoKeyring vault) into
// the agent, to expire after timeout (0: never).
func (v *Vault) Unlock(pass crypto.Passphrase, timeout time.Duration) error {
	if v.meta.NoKeyring && v.opts.Agent == nil {
		return fmt.Errorf("%w: this vault does not use the keyring; unlock each process with TGVAULT_PASSPHRASE_FILE or TGVAULT_IDENTITY", ErrKeyring)
	}
	if timeout < 0 {
		return errors.New("vault: negative unlock timeout")
	}
	id, err := v.openSlot(pass)
	if err != nil {
		return err
	}
	var exp *time.Time
	if timeout > 0 {
		t := v.now().Add(timeout)
		exp = &t
	}
	_, err = v.hold(id, exp)
	return err
}

// Status reports the unlock state, the number of accounts (when unlocked)
// and the writer holding the lock. A locked vault is not an error; a
// failing keyring is.
func (v *Vault) Status() (Status, error) {
	s := Status{VaultID: v.meta.VaultID, Dir: v.be.Location(), NoKeyring: v.meta.NoKeyring, Accounts: -1}
	if h, held := v.be.Probe(LockWrite); held {
		s.Writer = &h
	}
	st, err := v.unlock()
	if errors.Is(err, ErrLocked) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	s.Unlocked, s.UnlockedBy, s.Expires = true, st.by, st.expires
	idx, err := v.loadIndex(st)
	if err != nil {
		return s, err
	}
	s.Accounts = len(idx.Accounts)
	return s, nil
}

// Recipient returns the vault's public key (age1…), derived from the
// unlocked identity: vault.json is plaintext and could have been edited.
func (v *Vault) Recipient() (string, error) {
	st, err := v.unlock()
	if err != nil {
		return "", err
	}
	return st.primary.Recipient().String(), nil
}
