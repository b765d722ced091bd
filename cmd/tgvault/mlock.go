package main

import "github.com/tgvault/tgvault/internal/memlock"

// Memory locking for run, --mlock (TGVAULT_MLOCK): auto, on or off. The
// modes and their policy are package memlock's (memlock.Lock); its errors
// (memlock.ErrNotLocked) are exit 1, kind "memlock".

// mlockMode returns the --mlock mode: the flag, else TGVAULT_MLOCK, else
// auto.
func (a *app) mlockMode(flag string) (memlock.Mode, error) {
	m := flag
	if m == "" {
		m = a.getenv("TGVAULT_MLOCK")
	}
	mode, err := memlock.ParseMode(m)
	if err != nil {
		return "", usagef("--mlock (or TGVAULT_MLOCK) is auto, on or off, not %q", m)
	}
	return mode, nil
}

// checkMemlock is called before the vault is unlocked (memlock.Check).
func checkMemlock(mode memlock.Mode) error { return memlock.Check(mode) }

// lockMemory locks run's memory as mode says (memlock.Lock), after the
// vault is unlocked and scrypt's memory given back, and prints auto's
// warning.
func (a *app) lockMemory(mode memlock.Mode) (bool, error) {
	locked, warning, err := memlock.Lock(mode)
	if warning != nil {
		a.warnf("%v; run goes on with its memory swappable (--mlock off silences this)", warning)
	}
	return locked, err
}

// lockedNote is run's start-up line's word on memory locking.
func lockedNote(locked bool) string {
	if locked {
		return ", memory locked"
	}
	return ""
}
