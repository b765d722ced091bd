package vault

// Where an unlocked vault key is held between processes: the OS keyring
// (Options.Keyring) where it works, else a tgvault agent (Options.Agent,
// package agent on Linux and FreeBSD), which keeps it in locked memory.
// The agent is asked first: it holds a key only when the keyring could
// not, and answers without D-Bus. Unlock tries the keyring first and
// falls back to the agent; Lock empties both.

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tgvault/tgvault/crypto"
)

// The holders of an unlocked vault key, as Status.UnlockedBy names them.
const (
	HeldByKeyring = "keyring"
	HeldByAgent   = "agent"
)

// expiringKeyring is a Keyring that forgets a secret by itself at its
// expiry (package agent's Client): the vault hands it the expiry too, so
// that an expired key leaves memory at once, not at the next command.
type expiringKeyring interface {
	SetUntil(service, user, secret string, expires time.Time) error
}

// pidKeyring is a Keyring that runs as a process of its own and can say
// which (the agent): Status and Doctor show it.
type pidKeyring interface {
	PID() (int, error)
}

// noKeyringHere reports whether err says that this machine has no OS
// keyring at all (no D-Bus session, no Secret Service on it), rather than
// one that fails (locked, hanging, refusing): without one, a locked vault
// is just locked, and `tgvault unlock` starts an agent.
func noKeyringHere(err error) bool {
	ke, ok := errors.AsType[*KeyringError](err)
	return ok && (ke.Cause == CauseNoDBus || ke.Cause == CauseNoSecretService)
}

// keyringReason is why a keyring call failed, in short: its cause and
// what that means, without the advice a *KeyringError's message adds.
func keyringReason(err error) string {
	if ke, ok := errors.AsType[*KeyringError](err); ok {
		return string(ke.Cause) + ": " + ke.Cause.Describe()
	}
	return err.Error()
}

// heldSecret finds the vault's secret: in the agent first, then in the OS
// keyring (never for a NoKeyring vault). It returns the secret and its
// holder, or a *lockedError (ErrLocked) saying where it looked and what to
// do, or the holder's failure.
func (v *Vault) heldSecret() (secret, by string, err error) {
	agent := v.opts.Agent
	if agent != nil {
		s, err := agent.Get(KeyringService, v.meta.VaultID)
		switch {
		case err == nil:
			return s, HeldByAgent, nil
		case !errors.Is(err, ErrKeyringNotFound):
			return "", "", err // an agent socket that is not ours, ...
		}
	}
	switch {
	case v.meta.NoKeyring:
		// Never touch the keyring for such a vault: on a desktop that
		// could pop up an unlock prompt, on a headless host fail.
		return "", "", &lockedError{why: "no identity given for this process", noKeyring: true, agent: agent != nil}
	case v.opts.Keyring == nil:
		return "", "", &lockedError{why: "no OS keyring", noUnlock: agent == nil}
	}
	s, err := v.opts.Keyring.Get(KeyringService, v.meta.VaultID)
	switch {
	case err == nil:
		return s, HeldByKeyring, nil
	case errors.Is(err, ErrKeyringNotFound) && agent != nil:
		return "", "", &lockedError{why: "neither the OS keyring nor a tgvault agent holds the vault key", cause: err}
	case errors.Is(err, ErrKeyringNotFound):
		return "", "", &lockedError{why: "no identity in the keyring", cause: err}
	case agent != nil && noKeyringHere(err):
		ke, _ := errors.AsType[*KeyringError](err)
		return "", "", &lockedError{why: "no tgvault agent holds the vault key, and there is no OS keyring here: " + ke.Cause.Describe()}
	case agent != nil:
		return "", "", fmt.Errorf("%w; or run `tgvault unlock`, which has a tgvault agent hold the key where the OS keyring fails", err)
	}
	return "", "", err
}

// forget removes the vault's secret from the holder by (an expired one).
func (v *Vault) forget(by string) {
	switch by {
	case HeldByAgent:
		_ = v.opts.Agent.Delete(KeyringService, v.meta.VaultID)
	case HeldByKeyring:
		_ = v.opts.Keyring.Delete(KeyringService, v.meta.VaultID)
	}
}

// heldIdentity reads the unlocked identity from its holder, removing an
// expired one.
func (v *Vault) heldIdentity() (id *crypto.Identity, expires *time.Time, by string, err error) {
	s, by, err := v.heldSecret()
	if err != nil {
		return nil, nil, "", err
	}
	text := s
	if len(s) > 0 && s[0] == keyringJSON {
		var ks keyringSecret
		if err := json.Unmarshal([]byte(s), &ks); err != nil {
			return nil, nil, "", fmt.Errorf("%w: the %s's secret is not readable", ErrKeyring, by)
		}
		if !v.now().Before(ks.Expires) {
			v.forget(by)
			return nil, nil, "", &lockedError{why: "the unlock timeout expired", agent: v.opts.Agent != nil}
		}
		text, expires = ks.Identity, &ks.Expires
	}
	id, err = crypto.ParseIdentity(text)
	if err != nil {
		return nil, nil, "", fmt.Errorf("%w: the %s's secret is not an identity", ErrKeyring, by)
	}
	return id, expires, by, nil
}

// hold puts the identity where it is held between processes: the OS
// keyring where it takes it (and then nowhere else: the agent forgets its
// copy), else the agent. It returns the holder. A NoKeyring vault only
// ever uses the agent.
func (v *Vault) hold(id *crypto.Identity, expires *time.Time) (string, error) {
	secret := id.Reveal()
	if expires != nil {
		b, err := json.Marshal(keyringSecret{Identity: secret, Expires: expires.UTC()})
		if err != nil {
			return "", err
		}
		secret = string(b)
	}
	agent := v.opts.Agent
	var kerr error
	if v.opts.Keyring != nil {
		kerr = v.opts.Keyring.Set(KeyringService, v.meta.VaultID, secret)
		if kerr == nil {
			if agent != nil {
				_ = agent.Delete(KeyringService, v.meta.VaultID)
				_ = agent.Delete(KeyringService, v.meta.VaultID+formatAnchorSuffix)
			}
			v.anchorHeld(id, HeldByKeyring, expires)
			return HeldByKeyring, nil
		}
		if agent == nil {
			return "", kerr
		}
	}
	if agent == nil {
		if v.meta.NoKeyring {
			return "", fmt.Errorf("%w: this vault does not use the keyring and there is no tgvault agent here; unlock each process with TGVAULT_PASSPHRASE_FILE or TGVAULT_IDENTITY", ErrKeyring)
		}
		return "", fmt.Errorf("%w: no OS keyring", ErrKeyring)
	}
	var err error
	if ek, ok := agent.(expiringKeyring); ok && expires != nil {
		err = ek.SetUntil(KeyringService, v.meta.VaultID, secret, *expires)
	} else {
		err = agent.Set(KeyringService, v.meta.VaultID, secret)
	}
	if err != nil {
		if kerr != nil {
			return "", errors.Join(kerr, err)
		}
		return "", err
	}
	v.anchorHeld(id, HeldByAgent, expires)
	return HeldByAgent, nil
}

// secretExpiry is the expiry of a held secret (nil: none).
func secretExpiry(s string) *time.Time {
	if len(s) == 0 || s[0] != keyringJSON {
		return nil
	}
	var ks keyringSecret
	if json.Unmarshal([]byte(s), &ks) != nil {
		return nil
	}
	return &ks.Expires
}

// switchHeld puts the new identity of a rekey where the old one is held,
// keeping its expiry; a vault held nowhere stays so.
func (v *Vault) switchHeld(next *crypto.Identity) error {
	s, _, err := v.heldSecret()
	if errors.Is(err, ErrLocked) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = v.hold(next, secretExpiry(s))
	return err
}

// Lock removes the identity from the OS keyring and the agent. Locking a
// locked vault is not an error, nor is a machine with no OS keyring at all
// when an agent could hold the key.
func (v *Vault) Lock() error {
	var errs []error
	if a := v.opts.Agent; a != nil {
		// The agent's format anchor goes with the key (the host's file
		// keeps the record), so that the agent, holding nothing, exits.
		// The anchor first: the key's removal is what ends the agent, and
		// a request to an agent that is exiting can fail.
		if err := a.Delete(KeyringService, v.meta.VaultID+formatAnchorSuffix); err != nil && !errors.Is(err, ErrKeyringNotFound) {
			errs = append(errs, err)
		}
		if err := a.Delete(KeyringService, v.meta.VaultID); err != nil && !errors.Is(err, ErrKeyringNotFound) {
			errs = append(errs, err)
		}
	}
	if v.opts.Keyring != nil {
		err := v.opts.Keyring.Delete(KeyringService, v.meta.VaultID)
		switch {
		case err == nil, errors.Is(err, ErrKeyringNotFound):
		case v.opts.Agent != nil && noKeyringHere(err):
		default:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Holders says where an unlocked vault key could be held on this
// machine, for `init` and `unlock` to say before they ask for the
// passphrase.
type Holders struct {
	// Keyring is nil when the OS keyring answers, else why it cannot be
	// used (a *KeyringError, or ErrKeyring when there is none).
	Keyring error
	// Agent says that a tgvault agent can hold the key here.
	Agent bool
	// AgentErr says why an agent that could run here cannot be used (its
	// socket directory is not the user's own, ...); Agent is then false.
	AgentErr error
}

// Use is the holder Unlock would use: HeldByKeyring, HeldByAgent, or ""
// when neither can hold the key (each process then unlocks on its own).
func (h Holders) Use() string {
	switch {
	case h.Keyring == nil:
		return HeldByKeyring
	case h.Agent:
		return HeldByAgent
	}
	return ""
}

// Choose is the holder init and unlock plan to use (Use), or AgentErr
// when neither can hold the key and the agent could, but for a reason the
// user must fix (its socket directory is another user's): that is an
// error then, not a quiet fall back to a locked vault.
func (h Holders) Choose() (string, error) {
	use := h.Use()
	if use == "" && h.AgentErr != nil {
		return "", h.AgentErr
	}
	return use, nil
}

// probeHolders asks the OS keyring of opts for a secret that is never
// stored (so nothing is changed, and nothing prompts), and reports which
// holders can keep an unlocked vault key here.
func probeHolders(opts Options) Holders {
	h := Holders{Agent: opts.Agent != nil}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	probe := "probe-" + hex.EncodeToString(b)
	if opts.Agent != nil {
		if _, err := opts.Agent.Get(KeyringService, probe); !errors.Is(err, ErrKeyringNotFound) {
			h.Agent, h.AgentErr = false, err
			if err == nil {
				h.AgentErr = fmt.Errorf("%w: the agent answered a probe with a secret", ErrKeyring)
			}
		}
	}
	if opts.Keyring == nil {
		h.Keyring = fmt.Errorf("%w: no OS keyring", ErrKeyring)
		return h
	}
	_, err := opts.Keyring.Get(KeyringService, probe)
	if !errors.Is(err, ErrKeyringNotFound) {
		if err == nil {
			err = fmt.Errorf("%w: the keyring answered a probe with a secret", ErrKeyring)
		}
		h.Keyring = err
	}
	return h
}

// holderChecks are Doctor's findings about the holders and the unlock
// state (uerr: why unlocking failed, or nil).
func (v *Vault) holderChecks(uerr error) []Check {
	var cs []Check
	add := func(name string, ok bool, detail, fix string) {
		cs = append(cs, Check{Name: name, OK: ok, Detail: detail, Fix: fix})
	}
	agent := v.opts.Agent
	var agentErr error = ErrKeyringNotFound
	agentPID := 0
	if agent != nil {
		_, agentErr = agent.Get(KeyringService, v.meta.VaultID)
		if p, ok := agent.(pidKeyring); ok {
			agentPID, _ = p.PID()
		}
	}
	agentHolds := agent != nil && agentErr == nil
	keyringWorks := false
	switch {
	case v.meta.NoKeyring:
		add("keyring", true, "not used: this vault never uses the OS keyring (init --no-keyring)", "")
	case v.opts.Keyring == nil && agent != nil:
		add("keyring", true, "no OS keyring here; a tgvault agent holds the key instead", "")
	case v.opts.Keyring == nil:
		add("keyring", false, "no OS keyring here, and no tgvault agent on this OS", "unlock each process with TGVAULT_PASSPHRASE_FILE or TGVAULT_IDENTITY")
	default:
		_, err := v.opts.Keyring.Get(KeyringService, v.meta.VaultID)
		switch {
		case err == nil:
			keyringWorks = true
			add("keyring", true, "reachable; it holds the vault key", "")
		case errors.Is(err, ErrKeyringNotFound) && agentHolds:
			keyringWorks = true
			add("keyring", true, "reachable; it does not hold the vault key (a tgvault agent does)", "")
		case errors.Is(err, ErrKeyringNotFound):
			keyringWorks = true
			add("keyring", true, "reachable; the vault is locked (the keyring does not hold its key)", "")
		case agent != nil:
			add("keyring", true, "not usable here ("+keyringReason(err)+"); a tgvault agent holds the key instead", "")
		default:
			add("keyring", false, err.Error(), "unlock each process with TGVAULT_PASSPHRASE_FILE or TGVAULT_IDENTITY meanwhile")
		}
	}
	switch {
	case agent == nil:
		add("agent", true, "not available on this OS (Linux and FreeBSD only)", "")
	case agentHolds && agentPID > 0:
		add("agent", true, fmt.Sprintf("running (pid %d); it holds the vault key", agentPID), "")
	case agentHolds:
		add("agent", true, "running; it holds the vault key", "")
	case errors.Is(agentErr, ErrKeyringNotFound) && agentPID > 0:
		add("agent", true, fmt.Sprintf("running (pid %d); it does not hold the vault key", agentPID), "")
	case errors.Is(agentErr, ErrKeyringNotFound):
		add("agent", true, "not running (tgvault unlock starts one where the OS keyring is not usable)", "")
	default:
		add("agent", false, agentErr.Error(), "fix the agent's socket directory as the message says, or unlock each process with TGVAULT_PASSPHRASE_FILE")
	}
	if uerr != nil {
		// Recommend unlock only where it can work.
		fix := "unlock each process with TGVAULT_PASSPHRASE_FILE or TGVAULT_IDENTITY (no keyring and no agent can hold the key here)"
		if keyringWorks || agent != nil {
			fix = "tgvault unlock"
		}
		add("unlock", false, uerr.Error(), fix)
	}
	return cs
}
