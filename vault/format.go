package vault

// The vault's format and how its files are authenticated.
//
// Format 2 (current): every sealed file (accounts/<id>.age, index.age,
// slots/rekey.age) carries a tgvault-auth stanza, an HMAC keyed from the
// vault identity over the file's key and its name (crypto.VaultSealer),
// and vault.json carries an HMAC keyed from the identity over all its
// fields. A file anyone else sealed is refused with ErrCorrupt.
//
// Format 1 (tgvault before authentication): the files carry no stanza,
// and vault.json's MAC covers its recipients only. A format-1 vault is
// read as it is (an unauthenticated file is accepted, a file whose stanza
// is there but wrong is not) and upgraded whole, under the write lock, by
// its next write (upgrade).
//
// Downgrade: format 1 is accepted only while nothing says the vault was
// upgraded. vault.json must be format 1 with a format-1 MAC the identity
// verifies (an attacker cannot forge one; replaying one kept from before
// the upgrade is the residual risk SECURITY.md states), index.age must not
// carry a tgvault-auth stanza (the upgrade writes the index after every
// account file), this process must not have seen format 2 already, and no
// format anchor outside the directory may record format 2 (the OS
// keyring's entry, the agent's, the host's state file: see below).

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/atomicfile"
)

// Vault formats (vault.json's "format").
const (
	formatV1      = 1 // no file authentication
	formatV2      = 2 // every file authenticated by the vault key
	formatCurrent = formatV2

	// metaMACPurpose keys vault.json's format-2 MAC (crypto DeriveKey).
	metaMACPurpose = "tgvault vault.json 2"
	// formatAnchorSuffix names the keyring entry that records the format
	// (user "<vault id>" + suffix). It holds no secret and stays when the
	// vault is locked.
	formatAnchorSuffix = ":format"
)

// check validates what Open can check without the identity.
func (m *vaultMeta) check() error {
	if m.Format != formatV1 && m.Format != formatV2 {
		return fmt.Errorf("%w: vault.json format %d is not supported by this version", ErrCorrupt, m.Format)
	}
	if m.VaultID == "" || len(m.VaultID) > 64 || strings.ContainsAny(m.VaultID, "/\\\x00") {
		return fmt.Errorf("%w: vault.json has no valid vault id", ErrCorrupt)
	}
	return nil
}

// metaMAC is vault.json's format-2 MAC: HMAC-SHA-256 keyed from the
// identity over the JSON of every field but the MACs.
func metaMAC(id *crypto.Identity, m vaultMeta) string {
	m.MAC, m.RecipientsMAC = "", ""
	b, err := json.Marshal(m)
	if err != nil {
		panic("vault: vault.json: " + err.Error())
	}
	key := id.DeriveKey(metaMACPurpose)
	defer clear(key)
	h := hmac.New(sha256.New, key)
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// metaOK reports whether the identity authenticated m, by m's format.
func metaOK(id *crypto.Identity, m vaultMeta) bool {
	var want, got string
	switch m.Format {
	case formatV1:
		want, got = mac(macKey(id, macLabel), m.Recipients...), m.RecipientsMAC
	case formatV2:
		want, got = metaMAC(id, m), m.MAC
	default:
		return false
	}
	return hmac.Equal([]byte(want), []byte(got))
}

// readMeta reads vault.json as it is now.
func (v *Vault) readMeta() (vaultMeta, error) {
	var m vaultMeta
	b, err := v.be.Read(metaName)
	if err != nil {
		return m, fmt.Errorf("vault: read vault.json: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fileErr(metaName, fmt.Errorf("%w: vault.json: %v", ErrCorrupt, err))
	}
	return m, fileErr(metaName, m.check())
}

// errMetaForged: vault.json is not authenticated by the vault key.
var errMetaForged = fmt.Errorf("%w: vault.json is not authenticated by the vault key: its recipients, format or flags were changed by someone without the key (it holds no secret: restore it from a backup)", ErrCorrupt)

// errDowngraded: vault.json is in format 1 but the vault was upgraded.
var errDowngraded = fmt.Errorf("%w: vault.json says format 1 (no file authentication), but this vault was upgraded to format 2: vault.json was rolled back; restore the current one", ErrCorrupt)

// fileMode reads vault.json and decides whether files without
// authentication are accepted (legacy: format 1, not upgraded yet). It
// fails with ErrCorrupt when the identities did not authenticate
// vault.json, or when format 1 comes back after format 2 was seen, and
// with ErrWrongKey when they are not this vault's keys at all.
func (v *Vault) fileMode(ids []*crypto.Identity) (legacy bool, err error) {
	legacy, _, err = v.fileModeMeta(ids)
	return legacy, err
}

// fileModeMeta is fileMode that also returns vault.json's format.
func (v *Vault) fileModeMeta(ids []*crypto.Identity) (legacy bool, format int, err error) {
	m, err := v.readMeta()
	if err != nil {
		return false, 0, err
	}
	legacy, err = v.modeOf(m, ids)
	if errors.Is(err, ErrCorrupt) {
		err = fileErr(metaName, err)
	}
	return legacy, m.Format, err
}

// modeOf is fileMode for vault.json m.
func (v *Vault) modeOf(m vaultMeta, ids []*crypto.Identity) (legacy bool, err error) {
	ok := false
	for _, id := range ids {
		ok = ok || metaOK(id, m)
	}
	if !ok {
		if v.opensIndex(ids) {
			return false, errMetaForged
		}
		return false, fmt.Errorf("%w: it does not authenticate vault.json", ErrWrongKey)
	}
	if m.Format == formatV2 {
		v.strict.Store(true)
		v.anchorFileOnce()
		return false, nil
	}
	if v.strict.Load() || v.formatAnchor() >= formatV2 {
		return false, errDowngraded
	}
	// An authenticated index means an upgrade got that far (it writes the
	// index after every account file): vault.json is late, or was rolled
	// back. Either way every file must be authenticated.
	if b, err := v.be.Read(indexName); err == nil && crypto.Authenticated(b) {
		return false, nil
	}
	return true, nil
}

// opensIndex reports whether one of ids opens index.age's header: whether
// they are this vault's keys.
func (v *Vault) opensIndex(ids []*crypto.Identity) bool {
	b, err := v.be.Read(indexName)
	if err != nil {
		return false
	}
	s, err := crypto.NewVaultSealer(ids, ids[:1])
	if err != nil {
		return false
	}
	_, err = s.AcceptUnauthenticated().Open(b)
	return !errors.Is(err, crypto.ErrWrongKey)
}

// writeMeta writes vault.json in the current format, authenticated by id.
func (v *Vault) writeMeta(id *crypto.Identity) error {
	m := v.meta
	m.Format = formatCurrent
	m.Recipients = []string{id.Recipient().String()}
	m.RecipientsMAC = ""
	m.MAC = metaMAC(id, m)
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := v.be.Write(metaName, append(b, '\n')); err != nil {
		return fmt.Errorf("vault: write vault.json: %w", err)
	}
	v.meta = m
	v.strict.Store(true)
	return nil
}

// The format anchors: places outside the vault directory (which its
// attacker can write) that record that a vault was upgraded, so that a
// format-1 vault.json put back later is refused (errDowngraded):
//
//   - the OS keyring's entry "<vault id>:format" (KeyringService), set by
//     the upgrade and by every unlock the keyring holds; `tgvault lock`
//     keeps it;
//   - the agent's entry of the same name, set beside the key whenever the
//     agent holds it, with the key's expiry; `lock` removes both (the
//     agent exits holding nothing);
//   - a file of this host, <Options.StateDir>/format/<vault id>, set by
//     the upgrade and by every process that sees vault.json in format 2
//     authenticated by the key, however it unlocked (keyring, agent,
//     TGVAULT_IDENTITY, a passphrase file). It holds no secret.
//
// The passphrase slot cannot be one: it is in the directory, and the slot
// from before the upgrade, put back with the old vault.json, still opens
// with the same passphrase (SECURITY.md).

// anchorDir is the directory of the host's format anchors.
const anchorDir = "format"

// formatAnchor is the highest format any anchor records for the vault (0:
// none).
func (v *Vault) formatAnchor() int {
	n := v.fileAnchor()
	if v.opts.Keyring != nil {
		n = max(n, keyringAnchor(v.opts.Keyring, v.meta.VaultID))
	}
	if v.opts.Agent != nil {
		n = max(n, keyringAnchor(v.opts.Agent, v.meta.VaultID))
	}
	return n
}

// keyringAnchor is the format k records for the vault id (0: none).
func keyringAnchor(k Keyring, vaultID string) int {
	s, err := k.Get(KeyringService, vaultID+formatAnchorSuffix)
	if err != nil {
		return 0
	}
	return parseAnchor(s)
}

// parseAnchor reads a recorded format. Something under the anchor's name
// that is not a number still says the vault was upgraded.
func parseAnchor(s string) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < formatV1 {
		return formatCurrent
	}
	return n
}

// anchorFile is the host's anchor file for the vault, "" when there is no
// state directory (or the vault id is not a plain name).
func (v *Vault) anchorFile() string {
	id := v.meta.VaultID
	if v.opts.StateDir == "" || id == "" || strings.Trim(id, "0123456789abcdefABCDEF") != "" {
		return ""
	}
	return filepath.Join(v.opts.StateDir, anchorDir, id)
}

// fileAnchor is the format the host's anchor file records (0: none).
func (v *Vault) fileAnchor() int {
	p := v.anchorFile()
	if p == "" {
		return 0
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0
	}
	return parseAnchor(string(b))
}

// anchorFileOnce records format 2 in the host's anchor file once per
// process, when it says less (best effort: a host without a state
// directory has no such anchor).
func (v *Vault) anchorFileOnce() {
	if v.anchored.Swap(true) || v.fileAnchor() >= formatCurrent {
		return
	}
	v.setFileAnchor(formatCurrent)
}

func (v *Vault) setFileAnchor(format int) {
	p := v.anchorFile()
	if p == "" {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), dirMode); err != nil {
		return
	}
	_ = atomicfile.WriteFile(p, []byte(strconv.Itoa(format)+"\n"))
}

// setFormatAnchor records the format in every anchor there is here, best
// effort: the host's file, the keyring (unless the vault never uses it),
// and the agent when it holds the key (with the key's expiry).
func (v *Vault) setFormatAnchor(format int) {
	if v.fileAnchor() < format {
		v.setFileAnchor(format)
	}
	if v.opts.Keyring != nil && keyringAnchor(v.opts.Keyring, v.meta.VaultID) < format {
		_ = v.opts.Keyring.Set(KeyringService, v.meta.VaultID+formatAnchorSuffix, strconv.Itoa(format))
	}
	if v.opts.Agent != nil {
		if s, err := v.opts.Agent.Get(KeyringService, v.meta.VaultID); err == nil {
			v.anchorAgent(format, secretExpiry(s))
		}
	}
}

// anchorAgent records the format in the agent beside the key, to expire
// with it.
func (v *Vault) anchorAgent(format int, expires *time.Time) {
	agent, name := v.opts.Agent, v.meta.VaultID+formatAnchorSuffix
	if ek, ok := agent.(expiringKeyring); ok && expires != nil {
		_ = ek.SetUntil(KeyringService, name, strconv.Itoa(format), *expires)
		return
	}
	_ = agent.Set(KeyringService, name, strconv.Itoa(format))
}

// anchorHeld records format 2 where hold just put id (by), and in the
// host's file, when vault.json is in format 2 and id authenticates it.
func (v *Vault) anchorHeld(id *crypto.Identity, by string, expires *time.Time) {
	m, err := v.readMeta()
	if err != nil || m.Format < formatV2 || !metaOK(id, m) {
		return
	}
	v.anchorFileOnce()
	switch by {
	case HeldByKeyring:
		if keyringAnchor(v.opts.Keyring, v.meta.VaultID) < m.Format {
			_ = v.opts.Keyring.Set(KeyringService, v.meta.VaultID+formatAnchorSuffix, strconv.Itoa(m.Format))
		}
	case HeldByAgent:
		v.anchorAgent(m.Format, expires)
	}
}

// sealerFor returns s for the blob named name: its tag binds the file to
// this vault and that name.
func (v *Vault) sealerFor(s *crypto.VaultSealer, name string) *crypto.VaultSealer {
	return s.For(v.meta.VaultID + "/" + name)
}

// upgradeHook, when set by a test, is called after each file the upgrade
// rewrites; an error stops it there, as a crash would.
var upgradeHook func(name string) error

// upgradeFormat rewrites a format-1 vault in format 2 under t's write lock:
// every account file of the index re-sealed with authentication (the same
// image: revisions do not move), then the index, then vault.json, then
// the keyring's record of the format. A crash leaves a vault that the
// next write upgrades again; files already upgraded are kept. A file that
// does not open is left as it is (it was broken before and stays broken).
func (t *tx) upgradeFormat() error {
	v := t.v
	base, err := t.st.sealer() // legacy: opens format-1 files
	if err != nil {
		return err
	}
	for _, a := range t.idx.Accounts {
		name := accountBlob(a.ID)
		b, err := v.be.Read(name)
		if err != nil {
			continue
		}
		s := v.sealerFor(base, name)
		plain, ok, err := s.OpenChecked(b)
		if err != nil || ok {
			continue
		}
		out, err := s.Seal(plain)
		clear(plain)
		if err != nil {
			return err
		}
		if err := v.be.Write(name, out); err != nil {
			return fmt.Errorf("vault: upgrade %s: %w", name, err)
		}
		if upgradeHook != nil {
			if err := upgradeHook(name); err != nil {
				return err
			}
		}
	}
	t.st.legacy = false
	if t.sealer, err = t.st.sealer(); err != nil {
		return err
	}
	if err := t.save(); err != nil {
		return err
	}
	if upgradeHook != nil {
		if err := upgradeHook(indexName); err != nil {
			return err
		}
	}
	if err := v.writeMeta(t.st.primary); err != nil {
		return err
	}
	v.setFormatAnchor(formatCurrent)
	return nil
}

// Format returns the vault's format as vault.json states it (1 or 2).
func (v *Vault) Format() int {
	if m, err := v.readMeta(); err == nil {
		return m.Format
	}
	return v.meta.Format
}
