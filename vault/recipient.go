package vault

import (
	"encoding/json"
	"fmt"
)

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
