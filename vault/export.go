package vault

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// snapshot reads an exportable account's snapshot, holding its ownership
// lock meanwhile: an account another process holds (a run serving it) is
// refused with a *HeldError unless force. force also exports from a
// migrated vault.
func (v *Vault) snapshot(name string, force bool) (*storage.Snapshot, error) {
	f, _, release, err := v.readAccount(name, readOpts{readOnly: true, own: !force, policy: useExport, force: force})
	if err != nil {
		return nil, heldAdvice(err)
	}
	defer release()
	defer dropStore(f)
	return f.Snapshot()
}

var errRecipientsOrPassphrase = errors.New("vault: a sealed export needs recipients or a passphrase, not both")

// heldAdvice adds what to do to a *HeldError of an export.
func heldAdvice(err error) error {
	if errors.Is(err, ErrHeldByRun) {
		return fmt.Errorf("%w: stop it first, or use --force (a session used from two places at once is killed)", err)
	}
	return err
}

// Export returns the account as a plain session string in format f
// (Unknown means Pyrogram's current layout). The string is the session:
// the caller must treat it as a secret. A format that needs a field the
// source did not carry fails with an error matching ErrMissingField that
// names the field and how to fill it in (tgvault set, or a run); Telethon,
// GramJS and mtcute get a missing server address from the DC table when
// the account's test mode is known. Nothing unknown is guessed.
func (v *Vault) Export(name string, f sessionstring.Format, force bool) (string, error) {
	if f == sessionstring.Unknown {
		f = sessionstring.Pyrogram
	}
	snap, err := v.snapshot(name, force)
	if err != nil {
		return "", err
	}
	s, _ := sessionOf(snap)
	switch f {
	case sessionstring.Telethon, sessionstring.GramJS, sessionstring.Mtcute:
		s = s.WithDefaultAddress()
	}
	// Strict: a test mode the account does not know is never written as
	// production.
	out, err := sessionstring.EncodeStrict(f, s)
	if err != nil {
		return "", missingField(s, err)
	}
	return out, nil
}

// ExportPlainFile writes the account as a plain (unencrypted) Pyrogram v3
// .session file at path, peers included (mode 0600, atomically). It
// refuses a path taken when it starts (CheckPlainFileTarget); a file made
// at path while the account is read is replaced (the write renames over
// it: atomicfile has no write that refuses an existing target yet).
func (v *Vault) ExportPlainFile(name, path string, force bool) error {
	if err := CheckPlainFileTarget(path); err != nil {
		return err
	}
	snap, err := v.snapshot(name, force)
	if err != nil {
		return err
	}
	if err := storage.WritePyrogramFile(path, snap); err != nil {
		s, _ := sessionOf(snap)
		return missingField(s, err)
	}
	return nil
}

// CheckPlainFileTarget refuses a path where something exists, for a
// plaintext export (ExportPlainFile; the CLI asks before it unlocks): the
// file there may be another session. The error matches fs.ErrExist.
func CheckPlainFileTarget(path string) error {
	if _, err := os.Lstat(path); err == nil {
		return existsError(path)
	}
	return nil
}

// existsError is a plaintext export's path that is taken.
type existsError string

func (e existsError) Error() string {
	return "export: " + string(e) + " exists; remove it or choose another path"
}

func (existsError) Is(target error) bool { return target == fs.ErrExist }

// ExportSealed returns the account sealed for a hand-off, as one line:
// to opts.To (the age text form) or with opts.Passphrase, or the one
// opts.AskPassphrase gives (the binary age file in base64). Without peers the string is well under 1,000
// characters; it carries the account's name, which the receiver keeps
// unless it imports with another.
//
// With opts.Move the account is handed off: under its ownership lock (a
// pool serving it refuses the move; Force cannot override that) and the
// write lock, the state handed_off is written into the account's file,
// then the index; only then is the string returned. Nothing exports or
// connects the account until Reclaim, whatever the index says later.
func (v *Vault) ExportSealed(name string, opts SealedExportOptions) (string, error) {
	// Exactly one of recipients, a passphrase, or one to ask for: checked
	// before anything is asked.
	given := 0
	for _, ok := range []bool{len(opts.To) > 0, len(opts.Passphrase) > 0, opts.AskPassphrase != nil} {
		if ok {
			given++
		}
	}
	if given != 1 {
		return "", errRecipientsOrPassphrase
	}
	if opts.AskPassphrase != nil {
		// Asked for only now: a missing account fails before the user
		// types anything.
		if _, err := v.Show(name); err != nil {
			return "", err
		}
		p, err := opts.AskPassphrase()
		if err != nil {
			p.Wipe() // a passphrase given with an error is wiped too
			return "", err
		}
		defer p.Wipe()
		if len(p) == 0 {
			return "", errRecipientsOrPassphrase
		}
		opts.Passphrase = p
	}
	if opts.Move {
		if opts.Force {
			return "", errors.New("vault: --move cannot be forced: stop the process that holds the account first")
		}
		return v.moveSealed(name, opts)
	}
	snap, err := v.snapshot(name, opts.Force)
	if err != nil {
		return "", err
	}
	return sealEnvelope(name, snap, opts)
}

// sealEnvelope seals snap as a hand-off of the account name.
func sealEnvelope(name string, snap *storage.Snapshot, opts SealedExportOptions) (string, error) {
	s, _ := sessionOf(snap)
	e := &envelope{Session: s, Name: name}
	if opts.WithPeers {
		e.Peers = snap.Peers
		if e.Peers == nil {
			e.Peers = []storage.Peer{}
		}
	}
	plain, err := marshalEnvelope(e)
	if err != nil {
		return "", err
	}
	defer clear(plain)
	if len(opts.To) > 0 {
		return crypto.SealText(plain, opts.To...)
	}
	b, err := crypto.SealPassphrase(plain, opts.Passphrase)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// moveSealed is ExportSealed with Move: one transaction under the write
// lock and the account's ownership lock, the hand-off state written into
// the file before the index, the string sealed before either (nothing is
// marked if sealing fails) and returned only once both are saved.
func (v *Vault) moveSealed(name string, opts SealedExportOptions) (string, error) {
	// The account first (waiting for a command that holds it for a
	// moment), then the write lock: never the other way round, which
	// would hold up every writer while waiting.
	release, err := v.ClaimAccount(name)
	if err != nil {
		return "", heldAdvice(err)
	}
	defer release()
	t, err := v.begin()
	if err != nil {
		return "", err
	}
	defer t.end()
	if t.idx.MigratedTo != "" && !v.allowMigrated.Load() {
		return "", &MigratedError{To: t.idx.MigratedTo}
	}
	a, err := t.account(name)
	if err != nil {
		return "", err
	}
	f, err := v.openFile(t.sealer, false, a)
	if err != nil {
		return "", err
	}
	defer f.Close()
	op, err := openedOf(f)
	if err != nil {
		return "", err
	}
	status, reason := effectiveState(a, op.state, op.hasState)
	if err := stateError(status, reason, useExport, v.allowMigrated.Load(), t.idx.MigratedTo); err != nil {
		return "", err
	}
	snap, err := f.Snapshot()
	if err != nil {
		return "", err
	}
	out, err := sealEnvelope(name, snap, opts)
	if err != nil {
		return "", err
	}
	if err := setState(f, StatusHandedOff, "exported with --move", v.now()); err != nil {
		return "", fmt.Errorf("vault: the account could not be marked handed off, so the sealed string is withheld: %w", err)
	}
	if _, err := t.record(f); err != nil {
		return "", err
	}
	if err := t.save(); err != nil {
		// The file says handed off (the authority): the index catches up
		// on the next open. The string is still withheld: the user sees
		// an error and may retry after reclaim.
		return "", fmt.Errorf("vault: the account is marked handed off, but the index could not be saved, so the sealed string is withheld (tgvault reclaim, then try again): %w", err)
	}
	return out, nil
}
