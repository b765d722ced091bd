package main

import "github.com/tgvault/tgvault/internal/memlock"

// Memory locking for run: with --mlock (TGVAULT_MLOCK) auto, the default,
// run locks all of its memory, present and future, against swap when the
// OS allows it without risk, and says why not otherwise; on makes that a
// condition of starting; off skips it. The OS side is package memlock;
// its errors (memlock.ErrNotLocked) are exit 1, kind "memlock".
const (
	mlockAuto = "auto"
	mlockOn   = "on"
	mlockOff  = "off"
)

// mlockMode returns the --mlock mode: the flag, else TGVAULT_MLOCK, else
// auto.
func (a *app) mlockMode(flag string) (string, error) {
	m := flag
	if m == "" {
		m = a.getenv("TGVAULT_MLOCK")
	}
	switch m {
	case "":
		return mlockAuto, nil
	case mlockAuto, mlockOn, mlockOff:
		return m, nil
	}
	return "", usagef("--mlock (or TGVAULT_MLOCK) is auto, on or off, not %q", m)
}

// checkMemlock is called before the vault is unlocked: with mode on, an
// OS that does not allow the lock stops run before it holds any secret.
func checkMemlock(mode string) error {
	if mode != mlockOn {
		return nil
	}
	return memlock.Allowed()
}

// lockMemory locks run's memory as mode says. It is called after the
// vault is unlocked and scrypt's memory given back, so that the 256 MiB
// of a passphrase unlock are never locked in. It reports
// whether the memory is locked; with mode auto a refusal is a warning
// that names the fix, with mode on an error.
func (a *app) lockMemory(mode string) (bool, error) {
	if mode == mlockOff {
		return false, nil
	}
	err := memlock.Allowed()
	if err == nil {
		err = memlock.LockAll()
	}
	switch {
	case err == nil:
		return true, nil
	case mode == mlockOn:
		return false, err
	}
	a.warnf("%v; run goes on with its memory swappable (--mlock off silences this)", err)
	return false, nil
}

// lockedNote is run's start-up line's word on memory locking.
func lockedNote(locked bool) string {
	if locked {
		return ", memory locked"
	}
	return ""
}
