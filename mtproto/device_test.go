package mtproto

import (
	"errors"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// TestDeviceStable: an account's Device reaches the server in
// initConnection, the same on every connect; DeviceFor is a function of
// its seed; a Device with an empty field is refused before connecting.
func TestDeviceStable(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	key := seeds[0].Key
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, key, seeds[0].DC, seeds[0].UserID)
	dev := DeviceForKey(key.ID())
	if dev != DeviceForKey(key.ID()) || dev.Check() != nil {
		t.Fatalf("DeviceForKey is not stable or not valid: %+v", dev)
	}
	opts := serverOptions(srv)
	opts.Device = dev
	for range 2 {
		if _, err := runSelf(t.Context(), store, opts); err != nil {
			t.Fatal(err)
		}
	}
	got := srv.Clients(key.ID())
	if len(got) != 1 {
		t.Fatalf("the server saw %d different devices for one key, want 1: %+v", len(got), got)
	}
	if c := got[0]; c.DeviceModel != dev.Model || c.SystemVersion != dev.System || c.AppVersion != dev.AppVersion || c.LangCode != dev.LangCode || c.SystemLangCode != dev.SystemLangCode || c.APIID != int(opts.APIID) {
		t.Errorf("server saw %+v, want %+v", c, dev)
	}
	seen := map[Device]bool{}
	for seed := range uint64(64) {
		seen[DeviceFor(seed*0x9e3779b97f4a7c15)] = true
	}
	if len(seen) < 5 {
		t.Errorf("64 seeds gave only %d devices", len(seen))
	}
	opts.Device.Model = ""
	if _, err := NewClient(store, opts); !errors.Is(err, ErrBadDevice) {
		t.Errorf("a device without a model: %v", err)
	}
}

// TestNewDevice: a new account's device is a common desktop with the
// fields given laid over it (the language for both language codes); an
// oversized field is refused.
func TestNewDevice(t *testing.T) {
	t.Parallel()
	d, err := NewDevice(Device{})
	if err != nil || d.Check() != nil {
		t.Fatalf("NewDevice: %+v, %v", d, err)
	}
	d, err = NewDevice(Device{Model: "Rack 7", LangCode: "de"})
	if err != nil || d.Model != "Rack 7" || d.LangCode != "de" || d.SystemLangCode != "de" || d.System == "" || d.AppVersion == "" {
		t.Errorf("NewDevice with a model and a language: %+v, %v", d, err)
	}
	if _, err := NewDevice(Device{System: strings.Repeat("x", 65)}); !errors.Is(err, ErrBadDevice) {
		t.Errorf("an oversized system version: %v, want ErrBadDevice", err)
	}
}
