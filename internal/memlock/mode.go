package memlock

import (
	"errors"
	"fmt"
)

// Mode is how a process wants its memory locked (run's --mlock).
type Mode string

// The modes.
const (
	// Auto locks when the OS allows it without risk, and otherwise goes
	// on unlocked with a warning that names the fix.
	Auto Mode = "auto"
	// On makes the lock a condition of starting.
	On Mode = "on"
	// Off does not lock.
	Off Mode = "off"
)

// ErrBadMode is a mode that is none of auto, on and off.
var ErrBadMode = errors.New("memlock: the mode is auto, on or off")

// ParseMode reads a mode: "auto", "on" or "off", exactly; "" is Auto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return Auto, nil
	case Auto, On, Off:
		return m, nil
	}
	return "", fmt.Errorf("%w, not %q", ErrBadMode, s)
}

// Check is called before the process holds any secret: with On, an OS
// that will not allow the lock is an error (ErrNotLocked), so the process
// stops before it unlocks anything. The other modes pass.
func Check(m Mode) error {
	if m != On {
		return nil
	}
	return Allowed()
}

// Lock locks all of the process's memory as m says, and reports whether
// it is locked. With Auto a lock the OS refuses (or that fails) is
// warning, an ErrNotLocked error that names the fix; the process goes
// on. With On it is err, and the process must not go on. Off locks
// nothing and says nothing. Call it once the process has given back the
// memory it will not need locked (scrypt's 256 MiB of a passphrase
// unlock).
func Lock(m Mode) (locked bool, warning, err error) {
	return lock(m, Allowed, LockAll)
}

func lock(m Mode, allowed, lockAll func() error) (locked bool, warning, err error) {
	if m == Off {
		return false, nil, nil
	}
	err = allowed()
	if err == nil {
		err = lockAll()
	}
	switch {
	case err == nil:
		return true, nil, nil
	case m == On:
		return false, nil, err
	}
	return false, err, nil
}
