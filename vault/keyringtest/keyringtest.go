// Package keyringtest provides a fake OS keyring for tests of packages that
// use the vault: an in-memory vault.Keyring whose calls can be made to fail
// or to hang. It never touches the real keyring.
package keyringtest

import (
	"sync"

	"github.com/tgvault/tgvault/vault"
)

// Fake is an in-memory vault.Keyring. A missing secret is
// vault.ErrKeyringNotFound. Block and Fail change how every later call
// behaves. Safe for concurrent use.
type Fake struct {
	mu      sync.Mutex
	secrets map[[2]string]string // service, user -> secret
	err     error                // returned by every call when non-nil
	blocked chan struct{}        // calls wait until it is closed; nil when not blocked
	calls   int
}

var _ vault.Keyring = (*Fake)(nil)

// New returns an empty Fake.
func New() *Fake {
	return &Fake{secrets: make(map[[2]string]string)}
}

// Block makes every later call hang until Unblock (as a Secret Service
// does while an unlock prompt waits for an answer). Calls already blocked
// stay blocked.
func (f *Fake) Block() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked == nil {
		f.blocked = make(chan struct{})
	}
}

// Unblock releases every blocked call; they then proceed normally.
func (f *Fake) Unblock() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked != nil {
		close(f.blocked)
		f.blocked = nil
	}
}

// Fail makes every later call return err (and change nothing); Fail(nil)
// restores normal behaviour.
func (f *Fake) Fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Calls counts the calls made so far, blocked and failed ones included.
func (f *Fake) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Len is the number of secrets held.
func (f *Fake) Len() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.secrets)
}

// enter counts a call, waits while the fake is blocked, and returns the
// error to fail with, if any.
func (f *Fake) enter() error {
	f.mu.Lock()
	f.calls++
	blocked := f.blocked
	f.mu.Unlock()
	if blocked != nil {
		<-blocked
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Get returns the secret of (service, user).
func (f *Fake) Get(service, user string) (string, error) {
	if err := f.enter(); err != nil {
		return "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.secrets[[2]string{service, user}]
	if !ok {
		return "", vault.ErrKeyringNotFound
	}
	return s, nil
}

// Set stores secret for (service, user), replacing any earlier one.
func (f *Fake) Set(service, user, secret string) error {
	if err := f.enter(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.secrets[[2]string{service, user}] = secret
	return nil
}

// Delete removes the secret of (service, user).
func (f *Fake) Delete(service, user string) error {
	if err := f.enter(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k := [2]string{service, user}
	if _, ok := f.secrets[k]; !ok {
		return vault.ErrKeyringNotFound
	}
	delete(f.secrets, k)
	return nil
}
