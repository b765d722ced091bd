package vault

// Planning where init and unlock keep the vault key, before the
// passphrase is asked for: the user is told which holder it will be (or
// why none can be) first, and a keyring that does not work is not tried,
// and waited for, a second time.

import "fmt"

// HolderPlan is where Init or Unlock will keep the vault key (planHolder).
type HolderPlan struct {
	// Holder is HeldByKeyring, HeldByAgent, or "" when nothing can hold the
	// key between processes.
	Holder string
	// KeyringErr says why the OS keyring the options offered cannot hold
	// the key, when the agent will instead (a *KeyringError, or ErrKeyring
	// when there is none); nil when the keyring holds it or was left out
	// on purpose (a --no-keyring vault).
	KeyringErr error
}

// KeyringReason is KeyringErr in short, as Doctor words it: the cause
// and what it means, for the note that the agent holds the key instead
// ("" when KeyringErr is nil).
func (p HolderPlan) KeyringReason() string {
	if p.KeyringErr == nil {
		return ""
	}
	return keyringReason(p.KeyringErr)
}

// planHolder decides where the key will be held (probeHolders, then
// Holders.Choose) and drops from opts a keyring that will not hold it, so
// that it is not tried again. noKeyring leaves the keyring out from the
// start (a --no-keyring vault: not a word about it). The error is
// Choose's: an agent the user must fix while the keyring cannot hold the
// key either.
func planHolder(opts *Options, noKeyring bool) (HolderPlan, error) {
	if noKeyring {
		opts.Keyring = nil
	}
	h := probeHolders(*opts)
	use, err := h.Choose()
	if err != nil {
		return HolderPlan{}, err
	}
	p := HolderPlan{Holder: use}
	if use == HeldByKeyring {
		return p, nil
	}
	if use == HeldByAgent && !noKeyring {
		p.KeyringErr = h.Keyring
	}
	opts.Keyring = nil
	return p, nil
}

// CheckVacant fails with ErrExists where opts names a vault already: init
// says so before it asks for anything. Where the vault cannot be opened
// for another reason (a damaged vault.json) it says nothing: Init then
// refuses to write over the file.
func CheckVacant(opts Options) error {
	v, err := Open(Options{Dir: opts.Dir, Backend: opts.Backend})
	if err != nil {
		return nil
	}
	v.Close()
	return fmt.Errorf("%w: %s", ErrExists, v.Dir())
}

// PlanInit readies opts for Init before the passphrase is asked for
// (after CheckVacant): unless opts.NoKeyring it plans the holder
// (planHolder); where nothing can hold the key it sets opts.LeaveLocked,
// so that the vault is made locked (the caller may open it in this
// process: Options.Passphrase).
func PlanInit(opts *InitOptions) (HolderPlan, error) {
	if opts.NoKeyring {
		return HolderPlan{}, nil
	}
	p, err := planHolder(&opts.Options, false)
	if err != nil {
		return HolderPlan{}, err
	}
	opts.LeaveLocked = p.Holder == ""
	return p, nil
}

// ErrNoHolder is OpenForUnlock's refusal where nothing can hold the vault
// key between processes (no usable OS keyring, no agent on this OS): each
// process unlocks on its own there, with its identity or passphrase. It
// matches ErrKeyring.
var ErrNoHolder = fmt.Errorf("%w: nothing can hold the vault key between processes here (no usable OS keyring, no tgvault agent on this OS)", ErrKeyring)

// OpenForUnlock opens the vault for Unlock and plans where the key will
// be held (planHolder; a --no-keyring vault without the keyring), before
// the passphrase is asked for. It fails with ErrNoHolder where nothing can
// hold the key between processes.
func OpenForUnlock(opts Options) (*Vault, HolderPlan, error) {
	v, err := Open(opts)
	if err != nil {
		return nil, HolderPlan{}, err
	}
	p, err := planHolder(&v.opts, v.meta.NoKeyring)
	if err == nil && p.Holder == "" {
		err = ErrNoHolder
	}
	if err != nil {
		v.Close()
		return nil, HolderPlan{}, err
	}
	return v, p, nil
}
