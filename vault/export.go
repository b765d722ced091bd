package vault

import (
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// checkRun refuses to hand out an account that a running pool holds:
// using a session in two places at once kills it.
func (v *Vault) checkRun(force bool) error {
	if force {
		return nil
	}
	if pid, held := v.HeldByRun(); held {
		return fmt.Errorf("%w (pid %d): stop it first, or use --force", ErrHeldByRun, pid)
	}
	return nil
}

// snapshot reads an exportable account's snapshot.
func (v *Vault) snapshot(name string, force bool) (*storage.Snapshot, error) {
	if err := v.checkRun(force); err != nil {
		return nil, err
	}
	f, _, err := v.readAccount(name, true)
	if err != nil {
		return nil, err
	}
	defer dropStore(f)
	return f.Snapshot()
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
// .session file at path, peers included (mode 0600, atomically).
func (v *Vault) ExportPlainFile(name, path string, force bool) error {
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

// ExportSealed returns the account sealed for a hand-off, as one line:
// to opts.To (the age text form) or with opts.Passphrase (the binary age
// file in base64). Without peers the string is well under 1,000
// characters. With opts.Move the account is marked handed off: it stays
// listed, but nothing exports or connects it until Reclaim.
func (v *Vault) ExportSealed(name string, opts SealedExportOptions) (string, error) {
	if (len(opts.To) == 0) == (len(opts.Passphrase) == 0) {
		return "", errors.New("vault: a sealed export needs recipients or a passphrase, not both")
	}
	snap, err := v.snapshot(name, opts.Force)
	if err != nil {
		return "", err
	}
	s, _ := sessionOf(snap)
	e := &envelope{Session: s}
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
	var out string
	if len(opts.To) > 0 {
		out, err = crypto.SealText(plain, opts.To...)
	} else {
		var b []byte
		b, err = crypto.SealPassphrase(plain, opts.Passphrase)
		out = base64.StdEncoding.EncodeToString(b)
	}
	if err != nil {
		return "", err
	}
	if opts.Move {
		err := v.update(name, func(a *Account) error {
			a.Status, a.Reason = StatusHandedOff, "exported with --move"
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("vault: the account could not be marked handed off, so the sealed string is withheld: %w", err)
		}
	}
	return out, nil
}
