package vault

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/tgvault/tgvault/crypto"
)

// rekeyHook, when set by a test, is called after each step of Rekey; an
// error stops Rekey there, as a crash would.
var rekeyHook func(step string) error

func rekeyStep(step string) error {
	if rekeyHook != nil {
		return rekeyHook(step)
	}
	return nil
}

// rekeyState is the plaintext of slots/rekey.age, sealed to the old key
// while a rekey runs: the new identity, and a MAC over its public key made
// with the old identity, so that a state file planted by someone who can
// write the directory (but has no key) is ignored.
type rekeyState struct {
	Identity string `json:"identity"`
	MAC      string `json:"mac"`
}

// rekeyPending reports whether a rekey was started and not finished.
func (v *Vault) rekeyPending() bool {
	_, err := v.be.Read(rekeyPath)
	return err == nil
}

// pendingRekey returns the new identity of an unfinished rekey, if old
// opens its state file and authenticated it.
func (v *Vault) pendingRekey(old *crypto.Identity) (*crypto.Identity, bool) {
	next, err := v.readRekeyState(old)
	return next, err == nil
}

// errForgedRekey: the key opens slots/rekey.age but did not authenticate it.
var errForgedRekey = fmt.Errorf("%w: slots/rekey.age is not authenticated by this vault's key; remove it if no rekey was started", ErrCorrupt)

// readRekeyState opens slots/rekey.age with old. It fails with
// fs.ErrNotExist (no rekey), crypto.ErrWrongKey (sealed to another key:
// the slot already holds the new one) or errForgedRekey.
func (v *Vault) readRekeyState(old *crypto.Identity) (*crypto.Identity, error) {
	sealed, err := v.be.Read(rekeyPath)
	if err != nil {
		return nil, err
	}
	plain, err := crypto.Open(sealed, old)
	if errors.Is(err, crypto.ErrWrongKey) {
		return nil, err
	}
	if err != nil {
		return nil, errForgedRekey
	}
	defer clear(plain)
	var rs rekeyState
	if json.Unmarshal(plain, &rs) != nil {
		return nil, errForgedRekey
	}
	next, err := crypto.ParseIdentity(rs.Identity)
	if err != nil {
		return nil, errForgedRekey
	}
	want := mac(macKey(old, rekeyMACTag), next.Recipient().String())
	if !hmac.Equal([]byte(want), []byte(rs.MAC)) {
		return nil, errForgedRekey
	}
	return next, nil
}

// Passwd re-seals the passphrase slot with newPass. The identity and the
// accounts do not change.
func (v *Vault) Passwd(oldPass, newPass crypto.Passphrase) error {
	if len(newPass) == 0 {
		return errors.New("vault: the new passphrase is empty")
	}
	lk, err := v.writeLock()
	if err != nil {
		return err
	}
	defer lk.release()
	id, err := v.openSlot(oldPass)
	if err != nil {
		return err
	}
	return v.writeSlot(id, newPass)
}

// Rekey replaces the vault identity with a new one and re-seals every
// account file, the index and the passphrase slot (with pass, which must
// open the current slot). An interrupted Rekey leaves a vault that opens
// with the old key or the new one (writes are refused with
// ErrRekeyPending); running Rekey again finishes it. The phases:
//
//  1. slots/rekey.age: the new identity, sealed to the old key;
//  2. every file re-sealed to both keys;
//  3. the slot, the keyring and vault.json switched to the new key;
//  4. every file re-sealed to the new key only; slots/rekey.age removed.
func (v *Vault) Rekey(pass crypto.Passphrase) error {
	// A running pool keeps stores open that seal to the old key.
	if pid, held := v.HeldByRun(); held {
		return fmt.Errorf("%w (pid %d): stop it before a rekey", ErrHeldByRun, pid)
	}
	lk, err := v.writeLock()
	if err != nil {
		return err
	}
	defer lk.release()
	cur, err := v.openSlot(pass)
	if err != nil {
		return err
	}
	var old, next *crypto.Identity
	n, err := v.readRekeyState(cur)
	switch {
	case err == nil:
		old, next = cur, n // interrupted before the slot switch
	case errors.Is(err, crypto.ErrWrongKey):
		// Sealed to the old key: the slot already holds the new one.
		next = cur
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		old = cur
		if next, err = crypto.GenerateIdentity(); err != nil {
			return err
		}
		rs := rekeyState{Identity: next.Reveal(), MAC: mac(macKey(old, rekeyMACTag), next.Recipient().String())}
		plain, err := json.Marshal(rs)
		if err != nil {
			return err
		}
		sealed, err := crypto.Seal(plain, old.Recipient())
		clear(plain)
		if err != nil {
			return err
		}
		if err := v.be.Write(rekeyPath, sealed); err != nil {
			return fmt.Errorf("vault: write rekey state: %w", err)
		}
		if err := rekeyStep("state"); err != nil {
			return err
		}
	}
	if old != nil {
		both := []*crypto.Identity{old, next}
		if err := v.resealAll("both", both, []*crypto.Recipient{old.Recipient(), next.Recipient()}); err != nil {
			return err
		}
		if err := v.writeSlot(next, pass); err != nil {
			return err
		}
		if err := rekeyStep("slot"); err != nil {
			return err
		}
	}
	if err := v.switchKeyring(next); err != nil {
		return err
	}
	if err := rekeyStep("keyring"); err != nil {
		return err
	}
	if err := v.writeMeta(next); err != nil {
		return err
	}
	if err := rekeyStep("meta"); err != nil {
		return err
	}
	if err := v.resealAll("new", []*crypto.Identity{next}, []*crypto.Recipient{next.Recipient()}); err != nil {
		return err
	}
	if err := v.be.Remove(rekeyPath); err != nil {
		return fmt.Errorf("vault: remove rekey state: %w", err)
	}
	v.mu.Lock()
	v.slotID = nil
	v.mu.Unlock()
	return rekeyStep("done")
}

// switchKeyring puts the new identity into the keyring if the vault is
// unlocked there, keeping its expiry.
func (v *Vault) switchKeyring(next *crypto.Identity) error {
	if v.meta.NoKeyring || v.opts.Keyring == nil {
		return nil
	}
	s, err := v.opts.Keyring.Get(KeyringService, v.meta.VaultID)
	if errors.Is(err, ErrKeyringNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var exp *time.Time
	if len(s) > 0 && s[0] == keyringJSON {
		var ks keyringSecret
		if json.Unmarshal([]byte(s), &ks) == nil {
			exp = &ks.Expires
		}
	}
	return v.keyringSet(next, exp)
}

// resealAll re-seals every account file and then the index, opening with
// ids and sealing to rs. The images are not changed, so their revisions
// stay. A file that no key opens or that is damaged is left as it is
// (Doctor reports it).
func (v *Vault) resealAll(phase string, ids []*crypto.Identity, rs []*crypto.Recipient) error {
	names, err := v.be.List(accountsDir)
	if err != nil {
		return fmt.Errorf("vault: rekey: %w", err)
	}
	var paths []string
	for _, n := range names {
		if strings.HasSuffix(n, accountExt) {
			paths = append(paths, n)
		}
	}
	paths = append(paths, indexName)
	for _, p := range paths {
		if err := v.reseal(p, ids, rs); err != nil {
			if p == indexName || !(errors.Is(err, crypto.ErrCorrupt) || errors.Is(err, crypto.ErrWrongKey)) {
				return fmt.Errorf("vault: rekey %s: %w", p, err)
			}
		}
		if err := rekeyStep(phase + ":" + path.Base(p)); err != nil {
			return err
		}
	}
	return nil
}

func (v *Vault) reseal(name string, ids []*crypto.Identity, rs []*crypto.Recipient) error {
	sealed, err := v.be.Read(name)
	if err != nil {
		return err
	}
	plain, err := crypto.Open(sealed, ids...)
	if err != nil {
		return err
	}
	defer clear(plain)
	out, err := crypto.Seal(plain, rs...)
	if err != nil {
		return err
	}
	return v.be.Write(name, out)
}
