package main

import (
	"path/filepath"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// mtSecret is an MTProxy key in hex.
const mtSecret = "0123456789abcdeffedcba9876543210"

// TestClientOptionsFromAccount: what login keeps with an account (api_hash,
// device, proxy) is what run connects it with; an account without them
// gets run's defaults and a device derived from its key.
func TestClientOptionsFromAccount(t *testing.T) {
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
	dev := mtproto.Device{Model: "Rig", System: "Plan 9", AppVersion: "1.0", LangCode: "en", SystemLangCode: "en"}
	devJSON := []byte(`{"model":"Rig","system":"Plan 9","app_version":"1.0","lang_code":"en","system_lang_code":"en"}`)
	kept := mk("kept", map[string][]byte{metaAPIHash: []byte("0123abcd"), metaDevice: devJSON, metaProxy: []byte("socks5://127.0.0.1:1080")})
	opts, err := clientOptions(kept, serverConf{}, false, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if opts.APIHash != "0123abcd" || opts.Device != dev || opts.Dial == nil || opts.APIID != 777 {
		t.Errorf("kept account: hash %q device %+v dial %v api id %d", opts.APIHash, opts.Device, opts.Dial != nil, opts.APIID)
	}
	bare := mk("bare", nil)
	opts, err = clientOptions(bare, serverConf{}, false, 5, "")
	if err != nil {
		t.Fatal(err)
	}
	if opts.APIHash != "" || opts.Device != mtproto.DeviceForKey(key.ID()) || opts.Dial != nil {
		t.Errorf("bare account: hash %q device %+v dial %v", opts.APIHash, opts.Device, opts.Dial != nil)
	}
	if opts, err = clientOptions(bare, serverConf{}, false, 5, "socks5://127.0.0.1:1080"); err != nil || opts.Dial == nil || opts.MTProxy != nil {
		t.Errorf("run's --proxy for an account without one: %v", err)
	}
	mtp := mk("mtp", map[string][]byte{metaProxy: []byte("tg://proxy?server=10.0.0.1&port=443&secret=dd" + mtSecret)})
	opts, err = clientOptions(mtp, serverConf{}, false, 5, "socks5://127.0.0.1:1080")
	if err != nil {
		t.Fatal(err)
	}
	if opts.Dial != nil || opts.MTProxy == nil || opts.MTProxy.Addr != "10.0.0.1:443" || len(opts.MTProxy.Secret) != 17 {
		t.Errorf("MTProxy account: dial %v, MTProxy %v", opts.Dial != nil, opts.MTProxy)
	}
	if opts, err = clientOptions(bare, serverConf{}, false, 5, "mtproxy://"+mtSecret+"@10.0.0.2:443"); err != nil || opts.MTProxy == nil || opts.Dial != nil {
		t.Errorf("run's MTProxy for an account without one: %v", err)
	}
}
