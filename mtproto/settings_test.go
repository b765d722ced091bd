package mtproto

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// mtSecret is an MTProxy key in hex.
const mtSecret = "0123456789abcdeffedcba9876543210"

// TestLoadOptions: what login keeps with an account (api_hash,
// device, proxy) is what run connects it with; an account without them
// gets run's defaults and a device derived from its key.
func TestLoadOptions(t *testing.T) {
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer([]*crypto.Identity{id}, []*crypto.Recipient{id.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]byte, sessionstring.AuthKeySize)
	raw[0] = 1
	key, err := sessionstring.NewAuthKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	row := storage.SessionRow{DCID: 2, AuthKey: key, APIID: sessionstring.Some[int32](777), UserID: sessionstring.Some[int64](1), IsBot: sessionstring.Some(false), TestMode: sessionstring.Some(false)}
	mk := func(name string, meta map[string][]byte) *storage.File {
		f, err := storage.CreateFile(filepath.Join(t.TempDir(), name), sealer, storage.Binding{VaultID: "v", AccountID: name, Revision: 1}, &storage.Snapshot{Session: row, Meta: meta}, storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	dev := Device{Model: "Rig", System: "Plan 9", AppVersion: "1.0", LangCode: "en", SystemLangCode: "en"}
	devJSON := []byte(`{"model":"Rig","system":"Plan 9","app_version":"1.0","lang_code":"en","system_lang_code":"en"}`)
	kept := mk("kept", map[string][]byte{MetaAPIHash: []byte("0123abcd"), MetaDevice: devJSON, MetaProxy: []byte("socks5://127.0.0.1:1080")})
	opts, err := LoadOptions(kept, row, Defaults{APIID: 5, Proxy: ""})
	if err != nil {
		t.Fatal(err)
	}
	if opts.APIHash != "0123abcd" || opts.Device != dev || opts.Dial == nil || opts.APIID != 777 {
		t.Errorf("kept account: hash %q device %+v dial %v api id %d", opts.APIHash, opts.Device, opts.Dial != nil, opts.APIID)
	}
	bare := mk("bare", nil)
	opts, err = LoadOptions(bare, row, Defaults{APIID: 5, Proxy: ""})
	if err != nil {
		t.Fatal(err)
	}
	if opts.APIHash != "" || opts.Device != DeviceForKey(key.ID()) || opts.Dial != nil {
		t.Errorf("bare account: hash %q device %+v dial %v", opts.APIHash, opts.Device, opts.Dial != nil)
	}
	if opts, err = LoadOptions(bare, row, Defaults{APIID: 5, Proxy: "socks5://127.0.0.1:1080"}); err != nil || opts.Dial == nil || opts.MTProxy != nil {
		t.Errorf("run's --proxy for an account without one: %v", err)
	}
	// An empty row (an older `tgvault proxy NAME ""`) is no proxy of the
	// account's own: run's --proxy serves it.
	empty := mk("empty", map[string][]byte{MetaProxy: {}})
	if opts, err = LoadOptions(empty, row, Defaults{APIID: 5, Proxy: "socks5://127.0.0.1:1080"}); err != nil || opts.Dial == nil || opts.MTProxy != nil {
		t.Errorf("run's --proxy for an account with an empty proxy row: dial %v, %v", opts.Dial != nil, err)
	}
	if opts, err = LoadOptions(empty, row, Defaults{APIID: 5}); err != nil || opts.Dial != nil || opts.MTProxy != nil {
		t.Errorf("an empty proxy row without run's --proxy: %v, want a direct connection", err)
	}
	mtp := mk("mtp", map[string][]byte{MetaProxy: []byte("tg://proxy?server=10.0.0.1&port=443&secret=dd" + mtSecret)})
	opts, err = LoadOptions(mtp, row, Defaults{APIID: 5, Proxy: "socks5://127.0.0.1:1080"})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Dial != nil || opts.MTProxy == nil || opts.MTProxy.Addr != "10.0.0.1:443" || len(opts.MTProxy.Secret) != 17 {
		t.Errorf("MTProxy account: dial %v, MTProxy %v", opts.Dial != nil, opts.MTProxy)
	}
	if opts, err = LoadOptions(bare, row, Defaults{APIID: 5, Proxy: "mtproxy://" + mtSecret + "@10.0.0.2:443"}); err != nil || opts.MTProxy == nil || opts.Dial != nil {
		t.Errorf("run's MTProxy for an account without one: %v", err)
	}
}

// TestSettingsRoundTrip: what SaveLogin keeps is what LoadOptions reads
// back (the dev server's api_hash and "none" are not kept); a stored
// setting that does not parse is a *SettingsError that does not quote it.
func TestSettingsRoundTrip(t *testing.T) {
	t.Parallel()
	key := mttest.RandomKey(t)
	row := storage.SessionRow{DCID: 2, AuthKey: key, UserID: sessionstring.Some[int64](1)}
	dev := DeviceFor(7)
	conf := ServerConf{Addr: "127.0.0.1:1", TestMode: true}
	m := mttest.NewMemory(t)
	if err := SaveLogin(m, LoginSettings{Server: conf, Device: dev, APIHash: DevAPIHash, Proxy: "none"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{MetaAPIHash, MetaProxy} {
		if _, ok, _ := m.Meta(k); ok {
			t.Errorf("%s kept", k)
		}
	}
	opts, err := LoadOptions(m, row, Defaults{Server: ServerConf{Addr: "10.0.0.1:1"}, ServerSet: true, APIID: 9})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Server.Addr != conf.Addr || !opts.Server.TestMode || opts.Server.DC != 2 || opts.Device != dev || opts.APIID != 9 || opts.APIHash != "" {
		t.Errorf("options %+v", opts)
	}
	const pass = "hunter2-settings"
	for key, val := range map[string]string{MetaServer: "{" + pass, MetaDevice: `{"model":""}`, MetaProxy: "socks5://u:" + pass + "@h"} {
		m := mttest.NewMemory(t)
		if err := m.SetMeta(key, []byte(val)); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOptions(m, row, Defaults{})
		var se *SettingsError
		if !errors.As(err, &se) || se.Key != key || !errors.Is(err, ErrBadSettings) || strings.Contains(err.Error(), pass) {
			t.Errorf("%s %q: %v", key, val, err)
		}
	}
}

// TestMetaKeysDocumented: every meta key this package defines has its row
// in docs/design.md §1.4.
func TestMetaKeysDocumented(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join("..", "docs", "design.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{MetaServer, MetaAPIHash, MetaProxy, MetaDevice, MetaGotd, MetaDCKeys} {
		if !strings.Contains(string(b), "| `"+k+"` |") {
			t.Errorf("docs/design.md has no row for the meta key %s", k)
		}
	}
}
