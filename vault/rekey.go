package vault

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

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

// rekeyState is the plaintext of slots/rekey.age while a rekey runs:
// the new identity and the old one. It is sealed to both keys and
// authenticated by both (format 2), so whichever key this process holds
// opens it and proves that the vault's holder wrote it.
//
// Format 1's state file (tgvault before authentication) was sealed to the
// old key only and held the new identity with MAC, an HMAC by the old
// identity over the new public key; it is still read, with the old key.
type rekeyState struct {
	Identity string `json:"identity"`
	Old      string `json:"old,omitempty"`
	MAC      string `json:"mac,omitempty"`
}

// rekeyPending reports whether a rekey was started and not finished.
func (v *Vault) rekeyPending() bool {
	_, err := v.be.Read(rekeyPath)
	return err == nil
}

// errForgedRekey: slots/rekey.age is there, but the vault key did not
// write it.
var errForgedRekey = fmt.Errorf("%w: slots/rekey.age was not written by a rekey of this vault (the vault key does not open or did not authenticate it): no rekey is resumed from it. The vault's files are not affected; check who can write the vault directory, remove slots/rekey.age, and run `tgvault rekey` again if you meant to", ErrCorrupt)

// rekeyIDs returns the identities of a pending rekey, held first.
func rekeyIDs(held, old, next *crypto.Identity) []*crypto.Identity {
	other := old
	if sameKey(held, old) {
		other = next
	}
	if sameKey(held, other) {
		return []*crypto.Identity{held}
	}
	return []*crypto.Identity{held, other}
}

func sameKey(a, b *crypto.Identity) bool {
	return a.Recipient().String() == b.Recipient().String()
}

// readRekeyState opens slots/rekey.age with cur, the key this process
// holds (the old or the new one). It fails with fs.ErrNotExist (no rekey)
// or errForgedRekey (a state file the key cannot open or did not
// authenticate: never taken as "the slot already holds the new key").
func (v *Vault) readRekeyState(cur *crypto.Identity) (old, next *crypto.Identity, err error) {
	sealed, err := v.be.Read(rekeyPath)
	if err != nil {
		return nil, nil, err
	}
	s, err := crypto.NewVaultSealer([]*crypto.Identity{cur}, []*crypto.Identity{cur})
	if err != nil {
		return nil, nil, err
	}
	plain, authenticated, err := v.sealerFor(s.AcceptUnauthenticated(), rekeyPath).OpenChecked(sealed)
	if err != nil {
		return nil, nil, errForgedRekey
	}
	defer clear(plain)
	var rs rekeyState
	if json.Unmarshal(plain, &rs) != nil {
		return nil, nil, errForgedRekey
	}
	next, err = crypto.ParseIdentity(rs.Identity)
	if err != nil {
		return nil, nil, errForgedRekey
	}
	if !authenticated {
		// Format 1: sealed to the old key, with the old key's MAC.
		want := mac(macKey(cur, rekeyMACTag), next.Recipient().String())
		if !hmac.Equal([]byte(want), []byte(rs.MAC)) {
			return nil, nil, errForgedRekey
		}
		return cur, next, nil
	}
	if old, err = crypto.ParseIdentity(rs.Old); err != nil {
		return nil, nil, errForgedRekey
	}
	if !sameKey(cur, old) && !sameKey(cur, next) {
		return nil, nil, errForgedRekey
	}
	return old, next, nil
}

// writeRekeyState writes slots/rekey.age for a rekey from old to next.
func (v *Vault) writeRekeyState(old, next *crypto.Identity) error {
	both := []*crypto.Identity{old, next}
	s, err := crypto.NewVaultSealer(both, both)
	if err != nil {
		return err
	}
	plain, err := json.Marshal(rekeyState{Identity: next.Reveal(), Old: old.Reveal()})
	if err != nil {
		return err
	}
	sealed, err := v.sealerFor(s, rekeyPath).Seal(plain)
	clear(plain)
	if err != nil {
		return err
	}
	if err := v.be.Write(rekeyPath, sealed); err != nil {
		return fmt.Errorf("vault: write rekey state: %w", err)
	}
	return nil
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
// ErrRekeyPending); running Rekey again finishes it, resuming only from a
// state file the vault key authenticated. The phases:
//
//  1. slots/rekey.age: both identities, sealed to both keys;
//  2. the temp files of interrupted writes removed (sealed to the old
//     key, they would outlive it);
//  3. every file re-sealed to both keys;
//  4. the slot, the keyring and vault.json switched to the new key;
//  5. every file re-sealed to the new key only; slots/rekey.age removed.
//
// A format-1 vault comes out in format 2.
//
// Long: the phases above in their order, each with the checks that make
// resuming safe; that order is the point, and it reads best in one
// function.
func (v *Vault) Rekey(pass crypto.Passphrase) error {
	lk, err := v.writeLock()
	if err != nil {
		return err
	}
	defer lk.release()
	// A running pool keeps stores open that seal to the old key: every
	// account is taken for the rekey's duration, so none is served
	// meanwhile.
	claim, err := v.claimRekey()
	if err != nil {
		return fmt.Errorf("%w: stop it before a rekey", err)
	}
	defer claim.Close()
	cur, err := v.openSlot(pass)
	if err != nil {
		return err
	}
	old, next, err := v.readRekeyState(cur)
	switch {
	case err == nil:
		// Resumed: before the slot switch cur is old, after it next.
	case !errors.Is(err, fs.ErrNotExist):
		return err
	default:
		old = cur
		if next, err = crypto.GenerateIdentity(); err != nil {
			return err
		}
		if err := v.writeRekeyState(old, next); err != nil {
			return err
		}
		if err := rekeyStep("state"); err != nil {
			return err
		}
	}
	both := []*crypto.Identity{old, next}
	legacy, err := v.fileMode(both)
	if err != nil {
		return err
	}
	if err := v.removeTempFiles(); err != nil {
		return err
	}
	if err := rekeyStep("temp"); err != nil {
		return err
	}
	if !sameKey(cur, next) {
		if err := v.resealAll("both", both, both, legacy); err != nil {
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
	v.setFormatAnchor(formatCurrent)
	if err := rekeyStep("meta"); err != nil {
		return err
	}
	if err := v.resealAll("new", both, []*crypto.Identity{next}, false); err != nil {
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

// removeTempFiles removes the temp files that interrupted writes left in
// a directory vault (a database has none). The caller holds the write
// lock: no write is under way.
func (v *Vault) removeTempFiles() error {
	d, ok := v.be.(DirBackend)
	if !ok {
		return nil
	}
	for _, p := range tempFiles(string(d)) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("vault: remove a leftover temp file: %w", err)
		}
	}
	return nil
}

// tempFiles lists the temp files of atomic writes under dir
// (".NAME.tmp-RANDOM", atomicfile.WriteFile).
func tempFiles(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), ".") && strings.Contains(d.Name(), ".tmp-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// claimRekey takes the ownership lock of every account file (a rekey may
// run before the index opens with the key at hand).
func (v *Vault) claimRekey() (*Claim, error) {
	names, err := v.be.List(accountsDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("vault: rekey: %w", err)
	}
	x := &index{}
	for _, n := range names {
		if id, ok := strings.CutSuffix(path.Base(n), accountExt); ok && validID(id) {
			x.Accounts = append(x.Accounts, Account{ID: id})
		}
	}
	return v.claimAll(x)
}

// switchKeyring puts the new identity where the old one is held (the
// keyring or the agent), keeping its expiry (keyring_hold.go).
func (v *Vault) switchKeyring(next *crypto.Identity) error { return v.switchHeld(next) }

// resealAll re-seals every account file and then the index, opening with
// open (files with no authentication too if legacy) and sealing to the
// keys of sealWith, authenticated by each. The images are not changed, so
// their revisions stay. A file that does not open, or that the vault key
// did not authenticate, is left as it is (Doctor reports it): a rekey
// never authenticates what someone else sealed.
func (v *Vault) resealAll(phase string, open, sealWith []*crypto.Identity, legacy bool) error {
	s, err := crypto.NewVaultSealer(open, sealWith)
	if err != nil {
		return err
	}
	if legacy {
		s = s.AcceptUnauthenticated()
	}
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
		if err := v.reseal(p, v.sealerFor(s, p)); err != nil {
			if p == indexName || !(errors.Is(err, crypto.ErrCorrupt) || errors.Is(err, crypto.ErrWrongKey)) {
				return fmt.Errorf("vault: rekey %s: %w", p, translateOpen(p, err))
			}
		}
		if err := rekeyStep(phase + ":" + path.Base(p)); err != nil {
			return err
		}
	}
	return nil
}

func (v *Vault) reseal(name string, s *crypto.VaultSealer) error {
	sealed, err := v.be.Read(name)
	if err != nil {
		return err
	}
	plain, err := s.Open(sealed)
	if err != nil {
		return err
	}
	defer clear(plain)
	out, err := s.Seal(plain)
	if err != nil {
		return err
	}
	return v.be.Write(name, out)
}
