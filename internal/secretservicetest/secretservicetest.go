// Package secretservicetest locks and unlocks the login collection of the
// real Secret Service that .ci/secret-service starts (gnome-keyring on a
// private session bus), so that tests can show what a locked keyring does
// to tgvault. It talks D-Bus to the bus in DBUS_SESSION_BUS_ADDRESS and
// holds no state. It is for tests only; nothing outside tests imports it.
package secretservicetest

import (
	"errors"
	"fmt"
	"os"

	"github.com/godbus/dbus/v5"
)

const (
	// EnvReal is 1 inside .ci/secret-service.
	EnvReal = "TGVAULT_REAL_KEYRING"
	// EnvPassword holds the login collection's throw-away password there.
	EnvPassword = "TGVAULT_REAL_KEYRING_PASSWORD"

	secretsName = "org.freedesktop.secrets"
	secretsPath = dbus.ObjectPath("/org/freedesktop/secrets")
	// LoginCollection is the collection go-keyring stores secrets in.
	LoginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")
)

// Available reports whether the process runs inside .ci/secret-service.
func Available() bool { return os.Getenv(EnvReal) == "1" }

// LockLogin locks the login collection. A Secret Service that asks for a
// prompt to lock (none does for Lock in gnome-keyring) is an error.
func LockLogin() error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := conn.Object(secretsName, secretsPath).Call("org.freedesktop.Secret.Service.Lock", 0,
		[]dbus.ObjectPath{LoginCollection}).Store(&locked, &prompt); err != nil {
		return fmt.Errorf("locking the login collection: %w", err)
	}
	if len(locked) != 1 || prompt != "/" {
		return fmt.Errorf("locking the login collection gave %v, prompt %v", locked, prompt)
	}
	return nil
}

// UnlockLogin unlocks the login collection with the password in
// EnvPassword, through gnome-keyring's interface for unlocking without a
// prompt.
func UnlockLogin() error {
	password := os.Getenv(EnvPassword)
	if password == "" {
		return errors.New(EnvPassword + " is empty: run under .ci/secret-service")
	}
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	var disregard dbus.Variant
	var session dbus.ObjectPath
	svc := conn.Object(secretsName, secretsPath)
	if err := svc.Call("org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&disregard, &session); err != nil {
		return fmt.Errorf("unlocking: OpenSession: %w", err)
	}
	defer conn.Object(secretsName, session).Call("org.freedesktop.Secret.Session.Close", 0)
	master := struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}{session, []byte{}, []byte(password), "text/plain"}
	if err := svc.Call("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", 0,
		LoginCollection, master).Err; err != nil {
		return fmt.Errorf("unlocking the login collection: %w", err)
	}
	return nil
}
