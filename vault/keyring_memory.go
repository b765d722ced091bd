package vault

import "sync"

// MemoryKeyring is a Keyring that keeps its secrets in this process only:
// a throwaway vault's key (tgvault demo) lives and dies with the process.
// A missing secret is ErrKeyringNotFound. Safe for concurrent use; the
// zero value is empty and ready.
type MemoryKeyring struct {
	mu sync.Mutex
	m  map[[2]string]string // service, user -> secret
}

var _ Keyring = (*MemoryKeyring)(nil)

// Get returns the secret of service and user.
func (k *MemoryKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	s, ok := k.m[[2]string{service, user}]
	if !ok {
		return "", ErrKeyringNotFound
	}
	return s, nil
}

// Set keeps secret for service and user.
func (k *MemoryKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[[2]string]string{}
	}
	k.m[[2]string{service, user}] = secret
	return nil
}

// Delete forgets the secret of service and user.
func (k *MemoryKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.m[[2]string{service, user}]; !ok {
		return ErrKeyringNotFound
	}
	delete(k.m, [2]string{service, user})
	return nil
}
