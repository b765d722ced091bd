package vault

// The OS keyring: go-keyring behind the Keyring interface, a watchdog on
// every call, and errors classified by type into a *KeyringError whose
// message says how to do without a keyring.

import (
	"context"
	"errors"
	"fmt"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// KeyringCause says why a keyring call failed.
type KeyringCause string

// Keyring failure causes. The values are stable strings, fit for --json
// output.
const (
	// CauseNoDBus: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset
	// and none can be found, or the bus does not answer).
	CauseNoDBus KeyringCause = "no-dbus"
	// CauseNoSecretService: the session bus has no Secret Service
	// (nothing owns org.freedesktop.secrets and none can be started).
	CauseNoSecretService KeyringCause = "no-secret-service"
	// CauseLocked: the keyring's collection is locked and was not unlocked
	// (its unlock prompt was dismissed or could not be shown).
	CauseLocked KeyringCause = "locked"
	// CauseTimeout: the call did not finish within its time limit
	// (typically an unlock prompt nobody answers).
	CauseTimeout KeyringCause = "timeout"
	// CauseOther: any other failure; see the wrapped error.
	CauseOther KeyringCause = "other"
)

// Describe is the cause in plain words.
func (c KeyringCause) Describe() string {
	switch c {
	case CauseNoDBus:
		return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset or unreachable)"
	case CauseNoSecretService:
		return "no Secret Service on the session bus (nothing provides org.freedesktop.secrets)"
	case CauseLocked:
		return "the keyring is locked and its unlock prompt was dismissed or could not be shown"
	case CauseTimeout:
		return "the keyring did not answer in time (an unlock prompt nobody answered?)"
	default:
		return "the keyring failed"
	}
}

// KeyringError is a failed keyring call. It matches ErrKeyring with
// errors.Is, and errors.As reaches the underlying error (a go-keyring,
// D-Bus or network error, or context.DeadlineExceeded for CauseTimeout).
// Its message never contains the secret.
type KeyringError struct {
	Op    string // "get", "set" or "delete"
	Cause KeyringCause
	Err   error // the underlying error; may be nil
}

func (e *KeyringError) Error() string {
	msg := "vault: keyring " + e.Op + ": " + e.Cause.Describe()
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg + "; to unlock without a keyring use TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY" +
		" or --identity FILE (this process only), or create the vault with tgvault init --no-keyring"
}

// Unwrap gives ErrKeyring and the underlying error.
func (e *KeyringError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrKeyring}
	}
	return []error{ErrKeyring, e.Err}
}

// SystemKeyring returns the OS keyring: the Secret Service on Linux and
// the BSDs, the Keychain on macOS, the Credential Manager on Windows (via
// github.com/zalando/go-keyring). A missing secret is ErrKeyringNotFound;
// every other failure is a *KeyringError.
//
// Every call is bounded by KeyringTimeout. A Secret Service whose unlock
// prompt nobody answers never replies, and go-keyring cannot be
// cancelled, so a call that runs out of time returns a CauseTimeout error
// and its goroutine is abandoned, still blocked. Calls run one at a time:
// a call that finds an abandoned one still blocked waits for it within its
// own time limit, so a hung keyring strands at most one goroutine. The
// result is safe for concurrent use.
func SystemKeyring() Keyring {
	return newWatchdogKeyring(systemKeyring{}, KeyringTimeout)
}

// systemKeyring is go-keyring with its errors translated.
type systemKeyring struct{}

var _ Keyring = systemKeyring{}

func (systemKeyring) Get(service, user string) (string, error) {
	if err := busReady(); err != nil {
		return "", &KeyringError{Op: "get", Cause: CauseNoDBus, Err: err}
	}
	secret, err := gokeyring.Get(service, user)
	if err != nil {
		return "", systemKeyringError("get", err)
	}
	return secret, nil
}

func (systemKeyring) Set(service, user, secret string) error {
	if err := busReady(); err != nil {
		return &KeyringError{Op: "set", Cause: CauseNoDBus, Err: err}
	}
	return systemKeyringError("set", gokeyring.Set(service, user, secret))
}

func (systemKeyring) Delete(service, user string) error {
	if err := busReady(); err != nil {
		return &KeyringError{Op: "delete", Cause: CauseNoDBus, Err: err}
	}
	return systemKeyringError("delete", gokeyring.Delete(service, user))
}

// systemKeyringError translates a go-keyring error. go-keyring reports a
// collection it could not unlock (prompt dismissed, or no prompter could
// be shown) with an untyped error, so when the type tells nothing the
// keyring itself is asked whether it is locked.
func systemKeyringError(op string, err error) error {
	err = translateKeyringError(op, err)
	if ke, ok := err.(*KeyringError); ok && ke.Cause == CauseOther && keyringLocked() {
		ke.Cause = CauseLocked
	}
	return err
}

// translateKeyringError maps go-keyring's errors: ErrNotFound to
// ErrKeyringNotFound, anything else to a *KeyringError classified by the
// error's type (see classifyKeyringError in the platform files).
func translateKeyringError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, gokeyring.ErrNotFound):
		return ErrKeyringNotFound
	}
	return &KeyringError{Op: op, Cause: classifyKeyringError(err), Err: err}
}

// watchdogKeyring bounds every call of k by timeout and runs one call at a
// time (see SystemKeyring).
type watchdogKeyring struct {
	k       Keyring
	timeout time.Duration
	turn    chan struct{} // holds a token while a call (maybe abandoned) runs
}

var _ Keyring = (*watchdogKeyring)(nil)

func newWatchdogKeyring(k Keyring, timeout time.Duration) *watchdogKeyring {
	return &watchdogKeyring{k: k, timeout: timeout, turn: make(chan struct{}, 1)}
}

func (w *watchdogKeyring) Get(service, user string) (string, error) {
	return w.call("get", func() (string, error) { return w.k.Get(service, user) })
}

func (w *watchdogKeyring) Set(service, user, secret string) error {
	_, err := w.call("set", func() (string, error) { return "", w.k.Set(service, user, secret) })
	return err
}

func (w *watchdogKeyring) Delete(service, user string) error {
	_, err := w.call("delete", func() (string, error) { return "", w.k.Delete(service, user) })
	return err
}

// call runs f in a goroutine and waits for it at most w.timeout, counting
// the wait for an earlier call to finish.
func (w *watchdogKeyring) call(op string, f func() (string, error)) (string, error) {
	timer := time.NewTimer(w.timeout)
	defer timer.Stop()
	timedOut := &KeyringError{Op: op, Cause: CauseTimeout, Err: fmt.Errorf("no answer in %v: %w", w.timeout, context.DeadlineExceeded)}

	select {
	case w.turn <- struct{}{}:
	case <-timer.C:
		return "", timedOut
	}
	type result struct {
		s   string
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned call's send never blocks
	go func() {
		defer func() { <-w.turn }()
		defer func() {
			// go-keyring can panic when the bus goes away during a
			// prompt (it reads a nil signal from the closed channel);
			// that must not take the whole process down.
			if p := recover(); p != nil {
				done <- result{err: &KeyringError{Op: op, Cause: CauseOther, Err: fmt.Errorf("keyring library panicked: %v", p)}}
			}
		}()
		s, err := f()
		done <- result{s, err}
	}()

	select {
	case r := <-done:
		return r.s, wrapKeyringError(op, r.err)
	case <-timer.C:
		return "", timedOut
	}
}

// wrapKeyringError makes any error of an inner Keyring either
// ErrKeyringNotFound or a *KeyringError.
func wrapKeyringError(op string, err error) error {
	if err == nil || errors.Is(err, ErrKeyringNotFound) {
		return err
	}
	if _, ok := errors.AsType[*KeyringError](err); ok {
		return err
	}
	return &KeyringError{Op: op, Cause: CauseOther, Err: err}
}
