// The same constraint as go-keyring's Secret Service provider.
//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package vault

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// D-Bus error names the classification uses.
const (
	dbusServiceUnknown = "org.freedesktop.DBus.Error.ServiceUnknown"
	dbusNameHasNoOwner = "org.freedesktop.DBus.Error.NameHasNoOwner"
	dbusSpawnPrefix    = "org.freedesktop.DBus.Error.Spawn." // activation failed
	dbusDisconnected   = "org.freedesktop.DBus.Error.Disconnected"
	secretIsLocked     = "org.freedesktop.Secret.Error.IsLocked"
)

// busReady connects the shared session-bus connection that go-keyring
// uses (dbus.SessionBus), so that a failure to reach the bus is known to
// be one whatever the error's type. With no address set it looks for an
// existing bus only: godbus would otherwise run dbus-launch, which starts a
// bus daemon that outlives the process.
func busReady() error {
	if addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS"); addr == "" || addr == "autolaunch:" {
		c, err := dbus.SessionBusPrivateNoAutoStartup() // sets the variable when it finds a bus
		if err != nil {
			return err
		}
		c.Close()
	}
	_, err := dbus.SessionBus()
	return err
}

// classifyKeyringError says why a go-keyring call failed, from the types of
// the errors godbus and go-keyring return.
func classifyKeyringError(err error) KeyringCause {
	if name, ok := dbusErrorName(err); ok {
		switch {
		case name == dbusServiceUnknown, name == dbusNameHasNoOwner, strings.HasPrefix(name, dbusSpawnPrefix):
			return CauseNoSecretService
		case name == secretIsLocked:
			return CauseLocked
		case name == dbusDisconnected:
			return CauseNoDBus
		}
		return CauseOther
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return CauseNoDBus // dialling the bus
	}
	if _, ok := errors.AsType[*exec.Error](err); ok {
		return CauseNoDBus // dbus-launch missing
	}
	if _, ok := errors.AsType[*exec.ExitError](err); ok {
		return CauseNoDBus // dbus-launch failed
	}
	if errors.Is(err, dbus.ErrClosed) {
		return CauseNoDBus
	}
	return CauseOther
}

// dbusErrorName is the name of a D-Bus error message in err's tree. godbus
// returns method-call errors as dbus.Error values and builds *dbus.Error
// elsewhere.
func dbusErrorName(err error) (string, bool) {
	if e, ok := errors.AsType[dbus.Error](err); ok {
		return e.Name, true
	}
	if e, ok := errors.AsType[*dbus.Error](err); ok && e != nil {
		return e.Name, true
	}
	return "", false
}

// keyringLocked reports whether the collection go-keyring uses (login, or
// the default alias when there is no login collection) exists and is
// locked. Reading the property never prompts.
func keyringLocked() bool {
	if busReady() != nil {
		return false
	}
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, path := range []dbus.ObjectPath{
		"/org/freedesktop/secrets/collection/login",
		"/org/freedesktop/secrets/aliases/default",
	} {
		var locked bool
		err := conn.Object("org.freedesktop.secrets", path).
			CallWithContext(ctx, "org.freedesktop.DBus.Properties.Get", 0,
				"org.freedesktop.Secret.Collection", "Locked").
			Store(&locked)
		if err == nil {
			return locked
		}
	}
	return false
}
