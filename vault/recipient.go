package vault

import (
	"encoding/json"
	"errors"
	"fmt"
)

// RecipientOrUnverified returns the vault's public key, verified
// (Recipient) when the vault is unlocked, else vault.json's copy
// (RecipientUnverified: verified is false), which the caller must then
// say was not verified.
func (v *Vault) RecipientOrUnverified() (recipient string, verified bool, err error) {
	r, err := v.Recipient()
	if errors.Is(err, ErrLocked) || errors.Is(err, ErrKeyring) {
		r, err = v.RecipientUnverified()
		return r, false, err
	}
	return r, err == nil, err
}

// RecipientUnverified returns the vault's public key as vault.json has it
// on disk now, without unlocking. vault.json is plaintext: anyone who can
// write the directory can change it, so callers must say the value is not
// verified (Recipient, on an unlocked vault, derives it from the identity
// instead). It fails with ErrCorrupt when vault.json names no recipient.
func (v *Vault) RecipientUnverified() (string, error) {
	b, err := v.be.Read(metaName)
	if err != nil {
		return "", fmt.Errorf("vault: read vault.json: %w", err)
	}
	var m struct {
		Recipients []string `json:"recipients"`
	}
	if err := json.Unmarshal(b, &m); err != nil || len(m.Recipients) == 0 || m.Recipients[0] == "" {
		return "", fmt.Errorf("%w: vault.json names no recipient", ErrCorrupt)
	}
	return m.Recipients[0], nil
}
