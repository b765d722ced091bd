package secretservicetest

import (
	"os"
	"testing"

	"github.com/godbus/dbus/v5"

	"github.com/tgvault/tgvault/internal/realpart"
)

func TestMain(m *testing.M) { os.Exit(realpart.Main(realpart.RunFunc(func() int { return Main(m) }))) }

// TestStart: the private service answers on its bus, owns the Secret
// Service's name, and its login collection locks and unlocks.
func TestStart(t *testing.T) {
	svc := Start(t)
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") != svc.Addr || svc.Addr == "" {
		t.Fatalf("DBUS_SESSION_BUS_ADDRESS %q, service at %q", os.Getenv("DBUS_SESSION_BUS_ADDRESS"), svc.Addr)
	}
	if again, err := Get(); err != nil || again != svc {
		t.Fatalf("a second Get started another service: %v", err)
	}
	conn, err := dbus.SessionBus()
	if err != nil {
		t.Fatal(err)
	}
	var locked bool
	read := func() {
		t.Helper()
		if err := conn.Object(secretsName, LoginCollection).Call("org.freedesktop.DBus.Properties.Get", 0,
			"org.freedesktop.Secret.Collection", "Locked").Store(&locked); err != nil {
			t.Fatal(err)
		}
	}
	if read(); locked {
		t.Fatal("the login collection starts locked")
	}
	if err := LockLogin(); err != nil {
		t.Fatal(err)
	}
	if read(); !locked {
		t.Fatal("LockLogin left it unlocked")
	}
	if err := UnlockLogin(); err != nil {
		t.Fatal(err)
	}
	if read(); locked {
		t.Fatal("UnlockLogin left it locked")
	}
}
