// Package agentkeyring puts the tgvault agent (package agent) behind the
// vault's Keyring interface: vault may not import agent, nor agent vault,
// so the translation between them lives here, in one place.
//
// Layer rule (docs/ARCHITECTURE.md): agent and vault only.
package agentkeyring

import (
	"errors"
	"time"

	"github.com/tgvault/tgvault/agent"
	"github.com/tgvault/tgvault/vault"
)

// Keyring is an agent.Client as a vault.Keyring: a secret the agent does
// not hold, and an agent that does not run, are vault.ErrKeyringNotFound.
// It also has the optional abilities the vault looks for: SetUntil (the
// agent forgets the key at its expiry) and PID (the agent's process).
type Keyring struct{ c *agent.Client }

var _ vault.Keyring = Keyring{}

// New wraps c.
func New(c *agent.Client) Keyring { return Keyring{c} }

func keyringErr(err error) error {
	if errors.Is(err, agent.ErrNotFound) || errors.Is(err, agent.ErrNotRunning) {
		return vault.ErrKeyringNotFound
	}
	return err
}

// Get returns the secret of service and user.
func (k Keyring) Get(service, user string) (string, error) {
	s, err := k.c.Get(service, user)
	return s, keyringErr(err)
}

// Set hands the secret to the agent, starting one if the client may.
func (k Keyring) Set(service, user, secret string) error {
	return k.c.Set(service, user, secret)
}

// SetUntil lets the agent forget the key at its expiry.
func (k Keyring) SetUntil(service, user, secret string, expires time.Time) error {
	return k.c.SetUntil(service, user, secret, expires)
}

// Delete makes the agent forget the secret.
func (k Keyring) Delete(service, user string) error {
	return keyringErr(k.c.Delete(service, user))
}

// PID is the running agent's process id.
func (k Keyring) PID() (int, error) {
	in, err := k.c.Info()
	return in.PID, keyringErr(err)
}

// Info is what the running agent says of itself.
func (k Keyring) Info() (agent.Info, error) {
	in, err := k.c.Info()
	return in, keyringErr(err)
}
